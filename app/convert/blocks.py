"""The kept blocks of a file's page (templates/convert/show.html) and their keys. A kept
block (templating.kept_block) is written once and shown again to anyone whose key is the
same, so its key must hold everything the block shows: the blocks read only the form and
these facts, and tests/test_kept_blocks.py fails if a block reads anything else or a fact
leaves its key."""

from dataclasses import dataclass

from ..models import Conversion
from ..templating import form_state


@dataclass(frozen=True)
class FilePage:
    """What the file's page shows besides the options form."""

    many: bool  # more than one sheet: the sheet choice is shown
    busy: bool  # queued or running: nothing can be started
    has_hidden: bool  # some sheet is hidden: "Include hidden sheets" is offered
    text_file: bool  # a text file: how to read its numbers and dates is offered
    signed_in: bool  # "Email me when it is done" is offered
    result_name: str  # the result that converting again replaces ("" for none)

    @classmethod
    def of(cls, conversion, signed_in):
        sheets = conversion.info.get("sheets") or []
        return cls(
            many=len(sheets) > 1,
            busy=conversion.status in (Conversion.QUEUED, Conversion.RUNNING),
            has_hidden=any(not sheet["visible"] for sheet in sheets),
            text_file=bool(conversion.info.get("encoding")),
            signed_in=bool(signed_in),
            result_name=(conversion.result_name or "")
            if conversion.status == Conversion.DONE
            else "",
        )

    def convert_bar_key(self, form):
        return ("convert-bar", form_state(form), self.many, self.busy, self.result_name)

    def options_key(self, form):
        return (
            "options",
            form_state(form),
            self.many,
            self.has_hidden,
            self.text_file,
            self.signed_in,
        )
