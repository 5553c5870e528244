"""axe-core in the browser tests: every page state a test visits, in light and dark mode.

axe is vendored (tests/e2e/vendor/axe.min.js, from npm) and evaluated through Playwright, so
the page's Content-Security-Policy does not apply and nothing comes from the network.
"""

from pathlib import Path

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
FAILING = ("critical", "serious")
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary.split("\\n").slice(1).join(" ")),
  }));
}"""


def violations(page):
    """axe's critical and serious violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE + "\n;0")
    found = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in FAILING]


def check_a11y(page, label=""):
    """Fail on any critical or serious axe violation, in the light and in the dark theme.
    The pages follow the device's colour scheme (theme "auto"), which Playwright emulates."""
    problems = []
    for scheme in ("light", "dark"):
        # Reduced motion: Bootstrap then skips its colour transitions, which axe would
        # otherwise catch half-way.
        page.emulate_media(color_scheme=scheme, reduced_motion="reduce")
        page.wait_for_function(
            "scheme => document.documentElement.getAttribute('data-theme') !== 'auto'"
            " || document.documentElement.getAttribute('data-bs-theme') === scheme",
            arg=scheme,
        )
        for violation in violations(page):
            problems.append(
                f"[{scheme}] {violation['id']} ({violation['impact']}): {violation['help']}"
            )
            problems.extend(f"    {node}" for node in violation["nodes"])
    page.emulate_media(color_scheme="light")
    where = f"{label or page.url}"
    assert not problems, f"axe on {where}:\n" + "\n".join(problems)
