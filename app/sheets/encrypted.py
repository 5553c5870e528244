"""Workbooks encrypted with Excel's default password.

Excel encrypts an xls whose structure or windows are protected, or that has a password
to modify only, with the built-in password "VelvetSweatshop", and opens it without
asking; so do LibreOffice and Numbers. Such a file is not password-protected for the
person holding it: Sheetport decrypts it (msoffcrypto-tool) to a private temporary file
and reads that. Any other password still refuses the file.
"""

import os
import shutil
import tempfile

DEFAULT_PASSWORD = "VelvetSweatshop"


def decrypt_with_default_password(path, into):
    """Write the plain workbook inside `path` to the file `into`. False (and `into`
    removed) when the default password does not open it, or the records cannot be
    decrypted."""
    import msoffcrypto  # only for the few files that need it

    try:
        with open(path, "rb") as handle, open(into, "wb") as out:
            office = msoffcrypto.OfficeFile(handle)
            if office.format == "ooxml":
                office.load_key(password=DEFAULT_PASSWORD, verify_password=True)
            else:
                office.load_key(password=DEFAULT_PASSWORD)  # xls: always verified
            office.decrypt(out)
        return True
    except Exception:  # msoffcrypto raises many kinds: a wrong key, damaged records
        if os.path.exists(into):
            os.remove(into)
        return False


class PlainCopy:
    """A folder holding the decrypted copy of one workbook; remove() deletes it."""

    def __init__(self, path, suffix):
        self.folder = tempfile.mkdtemp(prefix="sheetport-plain-")
        self.path = os.path.join(self.folder, "book" + suffix)
        self.opened = decrypt_with_default_password(path, self.path)

    def remove(self):
        shutil.rmtree(self.folder, ignore_errors=True)
