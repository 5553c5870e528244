"""Convert a spreadsheet with the Sheetport API: python example.py book.xlsx out.csv"""

import os
import sys
import time

import requests

site, token = os.environ["SHEETPORT_URL"], os.environ["SHEETPORT_TOKEN"]
api = requests.Session()
api.headers["Authorization"] = f"Bearer {token}"
with open(sys.argv[1], "rb") as book:
    response = api.post(f"{site}/api/v1/convert", params={"format": "csv"}, files={"file": book})
while response.status_code == 202:  # a large file: poll until the job has finished
    time.sleep(1)
    conversion = api.get(site + response.headers["Location"]).json()
    if conversion["status"] in ("done", "failed"):
        response = api.get(site + conversion["links"]["self"] + "/result")
if not response.ok:
    sys.exit(response.json()["detail"])  # every error is application/problem+json
with open(sys.argv[2], "wb") as out:
    out.write(response.content)
