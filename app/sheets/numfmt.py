"""Excel number format codes (ECMA-376 Part 1, 18.8.31), rendered as Excel (en-US) shows
them: Sheetport's own renderer, for as displayed (displayed.py).

A code is parsed once (`compiled`, cached per code string) into one renderer per section;
rendering a value is then a few string operations. What is read:

- up to four sections (positive; negative; zero; text), conditions (`[>=100]`, `[<0]`),
  the sign: a negative number under its own section is shown without its minus, under a
  shared one with it in front of everything (`-$5`), also when it rounds to zero (`-0`);
- literal text: quoted, after a backslash, and the characters Excel shows as they are;
  `_x` is one space, `*x` (a fill) is dropped, colours (`[Red]`, `[Color12]`) are dropped,
  currency tags show their symbol (`[$€-407]` is `€`, `[$-409]` nothing);
- `0`, `#` and `?` in integer, decimal, fraction and exponent parts; thousands separators
  and scaling commas (`#,##0,`); `%` (each one times 100); scientific (`0.00E+00`, the
  exponent a multiple of the integer digits: `##0.0E+0`); fractions (`# ?/?`, `# ?/8`);
- dates and times from serials in the 1900 date system (serial 60 is 1900-02-29, serial 0
  is 1900-01-00): `d` to `dddd`, `m` to `mmmmm` (minutes after `h` or before `s`), `yy`,
  `yyyy`, `h`, `s`, `.0` to `.000`, `AM/PM`, `A/P`, elapsed `[h]`, `[mm]`, `[ss]`; times
  keep their whole seconds and round only what the code shows of a second;
- `General` inside a code (Excel's 11 characters); `@` in a text section.

Numbers are rounded half away from zero from their 15 significant digits, as Excel rounds
(`1.005` under `0.00` is `1.01`); digits past the 15th are zeros. A code this module cannot
read, or one too long or odd (over 255 characters, more than four sections, an unclosed
quote or bracket, an unknown date part), compiles to None; a value a section cannot show
(a negative or too large date: Excel's `####`) renders as None. Never an exception.
"""

import datetime as dt
import math
import re
from functools import lru_cache
from operator import itemgetter

MAX_CODE = 255  # Excel's longest number format code
MAX_SECTIONS = 4
MAX_SERIAL = 2958466  # 10000-01-01: Excel shows #### from here on
EPOCH = dt.date(1899, 12, 30).toordinal()  # serial 0 of the days after 1900-02-28
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
POWERS = tuple(10**n for n in range(400))
CONDITION = re.compile(r"\[(=|<>|>=?|<=?)(-?\d+(?:\.\d*)?)\]")
ELAPSED = re.compile(r"\[(h+|m+|s+)\]", re.IGNORECASE)
CURRENCY = re.compile(r"\[\$([^-\]]*)(?:-[0-9A-Za-z,-]*)?\]")
PLACEHOLDERS = frozenset("0#?")
DATE_LETTERS = frozenset("ymdhsegb")


class Refused(Exception):
    """A code, or part of one, that this module does not render."""


# --- numbers ------------------------------------------------------------------------------


def scaled(number, shift, places):
    """(whole part as an int, `places` decimals as text) of abs(number) * 10**shift,
    rounded half away from zero at `places` decimals, from its 15 significant digits."""
    text = format(number, ".15g")
    if text[0] == "-":
        text = text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    if not exponent and not shift and len(fraction) <= places:  # no rounding to do
        return int(whole), fraction + "0" * (places - len(fraction))
    digits = int(whole + fraction)
    power = (int(exponent) if exponent else 0) - len(fraction) + shift + places
    if power >= 0:
        digits *= POWERS[power] if power < 400 else 10**power
    else:
        divisor = POWERS[-power] if -power < 400 else 10**-power
        digits = (digits + divisor // 2) // divisor
    if not places:
        return digits, ""
    whole_part, decimals = divmod(digits, POWERS[places])
    return whole_part, str(decimals).zfill(places)


def significant(number, digits):
    """abs(number) to `digits` significant digits: (digit text, power of ten of the
    first digit), half away from zero from its 15 significant digits."""
    mantissa, _, exponent = format(abs(number), ".14e").partition("e")
    power = int(exponent)
    fifteen = mantissa.replace(".", "")
    if digits >= 15:
        return fifteen + "0" * (digits - 15), power
    divisor = POWERS[15 - digits]
    rounded = (int(fifteen) + divisor // 2) // divisor
    if rounded >= POWERS[digits]:  # 9.99... rounded up to 10
        rounded //= 10
        power += 1
    return str(rounded), power


def to_precision(number, digits):
    """JavaScript's toPrecision, rounding half away from zero (the General format's)."""
    if number == 0:
        return "0" if digits == 1 else "0." + "0" * (digits - 1)
    text, power = significant(number, digits)
    sign = "-" if number < 0 else ""
    if power < -6 or power >= digits:
        mantissa = text[0] + ("." + text[1:] if digits > 1 else "")
        return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{text}"
    if power + 1 == digits:
        return sign + text
    return f"{sign}{text[: power + 1]}.{text[power + 1 :]}"


TRAILING = re.compile(r"(?:\.0*|(\.\d*[1-9])0+)$")
TRAILING_BEFORE_E = re.compile(r"(?:\.0*|(\.\d*[1-9])0+)[Ee]")
ONE_DIGIT_EXPONENT = re.compile(r"(E[+-])(\d)$")


def stripped(text):
    return TRAILING.sub(r"\1", text) if "." in text else text


def general(number):
    """A number under General inside a code: at most 11 characters (12 with a minus),
    then fewer decimals, then scientific (`1.23457E+11`)."""
    if number == int(number) and -2147483648 <= number <= 2147483647:
        return str(int(number))
    magnitude = math.floor(math.log10(abs(number)))
    if -4 <= magnitude <= -1:
        text = to_precision(number, 10 + magnitude)
    elif abs(magnitude) <= 9:
        width = 12 if number < 0 else 11
        text = stripped(f"{number:.12f}")
        if len(text) > width:
            text = to_precision(number, 10)
            if len(text) > width:
                digits, power = significant(number, 6)
                sign = "-" if number < 0 else ""
                text = f"{sign}{digits[0]}.{digits[1:]}e{'+' if power >= 0 else '-'}{abs(power)}"
    elif magnitude == 10:
        text = f"{number:.10f}"[:12]
    else:
        text = stripped(f"{number:.11f}")
        if len(text) > (12 if number < 0 else 11) or text in ("0", "-0"):
            text = to_precision(number, 6)
    text = text.upper()
    if "E" in text:
        text = TRAILING_BEFORE_E.sub(r"\1E", text)
        text = ONE_DIGIT_EXPONENT.sub(r"\g<1>0\2", text)
    return stripped(text)


def filled(digits, slots):
    """`digits` right-aligned in the integer `slots` ('0', '#', '?'): missing digits are
    zeros, nothing or spaces; digits beyond the slots go in front."""
    missing = len(slots) - len(digits)
    if missing <= 0:
        return digits
    pad = slots[:missing].replace("#", "").replace("?", " ")
    return pad + digits


def grouped(text):
    """Thousands separators in the integer part `text` (digits, maybe led by padding)."""
    core = text.lstrip(" ")
    if len(core) <= 3:
        return text
    head = len(core) % 3 or 3
    parts = [core[:head]] + [core[index : index + 3] for index in range(head, len(core), 3)]
    return text[: len(text) - len(core)] + ",".join(parts)


def decimals_shown(decimals, slots):
    """The decimal digits under their `slots`: trailing zeros under '#' dropped, under '?'
    spaces."""
    end = len(decimals)
    while end and decimals[end - 1] == "0" and slots[end - 1] != "0":
        end -= 1
    if end == len(decimals):
        return decimals
    tail = slots[end:].replace("#", "").replace("0", "").replace("?", " ")
    return decimals[:end] + tail


def spread(text, runs, from_right):
    """`text` cut into pieces as long as `runs` (lists of slots), the extra characters
    going to the outermost run: [piece per run]."""
    pieces = [""] * len(runs)
    if from_right:
        end = len(text)
        for index in range(len(runs) - 1, 0, -1):
            start = max(end - len(runs[index]), 0)
            pieces[index] = text[start:end]
            end = start
        pieces[0] = text[:end]
    else:
        start = 0
        for index in range(len(runs) - 1):
            pieces[index] = text[start : start + len(runs[index])]
            start += len(runs[index])
        pieces[-1] = text[start:]
    return pieces


def best_fraction(value, largest):
    """(numerator, denominator) closest to 0 <= value < 1 with a denominator at most
    `largest`, by continued fractions (as SheetJS's SSF finds it)."""
    p_2, p_1, q_2, q_1 = 0, 1, 1, 0
    rest = value
    p = q = 0
    for _ in range(64):
        whole = math.floor(rest)
        p = whole * p_1 + p_2
        q = whole * q_1 + q_2
        if q_1 >= largest:
            break
        if rest - whole < 0.00000005:
            break
        rest = 1 / (rest - whole)
        p_2, p_1 = p_1, p
        q_2, q_1 = q_1, q
        if q_1 >= largest:
            break
    if q > largest:
        if q_1 > largest:
            q, p = q_2, p_2
        else:
            q, p = q_1, p_1
    return p, q


class NumberLayout:
    """The placeholders of a number section and the literal text between them, from
    which render(value) (value >= 0) builds the text."""

    def __init__(self, tokens):
        kinds = [kind for kind, _ in tokens]
        exponent_at = kinds.index("E") if "E" in kinds else None
        slash = None
        if exponent_at is None and "/" in kinds:
            at = kinds.index("/")
            if "slot" in kinds[:at] and ("slot" in kinds[at + 1 :] or "digits" in kinds[at + 1 :]):
                slash = at
        mantissa_end = len(tokens)
        if exponent_at is not None:
            mantissa_end = exponent_at
        elif slash is not None:
            mantissa_end = slash
        point = None
        if slash is None and "." in kinds[:mantissa_end]:
            point = kinds.index(".")
        slots_at = [index for index in range(mantissa_end) if kinds[index] == "slot"]
        first_slot, last_slot = slots_at[0], slots_at[-1]
        integer_end = point if point is not None else mantissa_end
        self.shift = 2 * kinds.count("percent")
        self.group = False
        kept = []
        for index, (kind, text) in enumerate(tokens):
            if kind == ",":
                # between integer placeholders a comma groups; after the mantissa's last
                # placeholder it scales by 1,000; before the first it is shown
                if index < first_slot:
                    kept.append(("lit", ","))
                elif last_slot < index < mantissa_end:
                    if slash is None:
                        self.shift -= 3
                elif index < integer_end:
                    self.group = True
                continue
            if (
                kind == "."
                and index != point
                or kind == "/"
                and index != slash
                or kind == "digits"
                and (slash is None or index < slash)
            ):
                kind = "lit"
            elif kind == "E" and index != exponent_at:
                kind, text = "lit", "E" + text
            elif kind == "percent":
                kind = "lit"
            kept.append((kind, text))
        self.tokens = kept
        self.kinds = kinds = [kind for kind, _ in kept]
        self.exponent_at = kinds.index("E") if exponent_at is not None else None
        self.slash = kinds.index("/") if slash is not None else None
        self.point = kinds.index(".") if point is not None else None
        mantissa_end = len(kept)
        if self.exponent_at is not None:
            mantissa_end = self.exponent_at
        elif self.slash is not None:
            mantissa_end = self.slash
        integer_end = self.point if self.point is not None else mantissa_end
        if self.slash is not None:
            self.build_fraction(kinds, self.slash)
        else:
            self.build_decimal(kinds, integer_end, mantissa_end)

    def runs(self, start, end):
        """[(first token, token after, slots)] of the placeholder runs in tokens[start:end]."""
        found = []
        index = start
        while index < end:
            if self.kinds[index] == "slot":
                begin = index
                slots = ""
                while index < end and self.kinds[index] == "slot":
                    slots += self.tokens[index][1]
                    index += 1
                found.append((begin, index, slots))
            else:
                index += 1
        return found

    def build_decimal(self, kinds, integer_end, mantissa_end):
        self.integer_runs = self.runs(0, integer_end)
        self.decimal_runs = self.runs(integer_end, mantissa_end)
        self.integer_slots = "".join(slots for _, _, slots in self.integer_runs)
        self.decimal_slots = "".join(slots for _, _, slots in self.decimal_runs)
        self.places = len(self.decimal_slots)
        if self.exponent_at is not None:
            self.exponent_runs = self.runs(self.exponent_at + 1, len(kinds))
            self.exponent_slots = "".join(slots for _, _, slots in self.exponent_runs)
            if not self.exponent_slots:
                raise Refused("an exponent without digits")

    def build_fraction(self, kinds, slash):
        before = self.runs(0, slash)
        self.numerator_run = before[-1]
        self.integer_runs = before[:-1]
        self.integer_slots = "".join(slots for _, _, slots in self.integer_runs)
        after = slash + 1
        while kinds[after] not in ("slot", "digits"):
            after += 1
        kind, text = self.tokens[after]
        if kind == "digits":
            self.fixed = int(text)
            self.denominator_slots = text
            self.denominator_tokens = (after, after + 1)
        else:
            self.fixed = None
            begin, end, slots = self.runs(after, len(kinds))[0]
            self.denominator_slots = slots
            self.denominator_tokens = (begin, end)
        if len(self.denominator_slots) > 9 or self.fixed == 0:
            raise Refused("denominator")

    # rendering

    def render(self, value):
        if self.slash is not None:
            return self.render_fraction(value)
        if self.exponent_at is not None:
            return self.render_exponent(value)
        whole, decimals = scaled(value, self.shift, self.places)
        return self.assemble(whole, decimals)

    def place(self, out, runs, text, from_right):
        pieces = spread(text, [slots for _, _, slots in runs], from_right)
        for (begin, end, _), piece in zip(runs, pieces, strict=True):
            out[begin] = piece
            for index in range(begin + 1, end):
                out[index] = ""

    def assemble(self, whole, decimals, out=None):
        if out is None:
            out = [text for _, text in self.tokens]
        digits = str(whole) if whole else ""
        integer = filled(digits, self.integer_slots)
        if self.group:
            integer = grouped(integer)
        if self.integer_runs:
            self.place(out, self.integer_runs, integer, True)
        if self.decimal_runs:
            self.place(out, self.decimal_runs, decimals_shown(decimals, self.decimal_slots), False)
        return "".join(out)

    def render_exponent(self, value):
        """Scientific: the exponent a multiple of the integer placeholders' count
        (`##0.0E+0` is engineering), the mantissa rounded to the decimals shown."""
        width = max(len(self.integer_slots), 1)
        places = self.places
        if value == 0:
            whole, decimals, power = 0, "0" * places, 0
        else:
            first = significant(value, 15)[1]  # the power of ten of the first digit
            power = first - first % width
            text, rounded_first = significant(value, first - power + 1 + places)
            if rounded_first != first:  # 9.99 rounded up to 10.0
                power = rounded_first - rounded_first % width
                text = "1" + "0" * (rounded_first - power + places)
            split = len(text) - places
            whole = int(text[:split]) if split > 0 else 0
            decimals = text[split:]
        out = [text for _, text in self.tokens]
        plus = out[self.exponent_at] == "+"
        out[self.exponent_at] = "E-" if power < 0 else ("E+" if plus else "E")
        exponent = filled(str(abs(power)), self.exponent_slots)
        self.place(out, self.exponent_runs, exponent, True)
        return self.assemble(whole, decimals, out)

    def render_fraction(self, value):
        integer_part = bool(self.integer_runs)
        whole = math.floor(value) if integer_part else 0
        rest = value - whole
        largest = POWERS[len(self.denominator_slots)] - 1
        if self.fixed is not None:
            denominator = self.fixed
            numerator = math.floor(rest * denominator + 0.5)
        elif integer_part:
            numerator, denominator = best_fraction(rest, largest)
        else:
            whole_part = math.floor(rest)
            numerator, denominator = best_fraction(rest - whole_part, largest)
            numerator += whole_part * denominator
        if integer_part and numerator >= denominator:
            whole += numerator // denominator
            numerator %= denominator
        out = [text for _, text in self.tokens]
        num_begin, num_end, num_slots = self.numerator_run
        den_begin, den_end = self.denominator_tokens
        blank = integer_part and numerator == 0
        if blank:  # a whole number: the fraction is as many spaces
            for index in range(num_begin, den_end):
                out[index] = ""
            out[num_begin] = " " * (len(num_slots) + 1 + len(self.denominator_slots))
        else:
            self.place(out, [self.numerator_run], filled(str(numerator), num_slots), True)
            if self.fixed is None:
                text = str(denominator)
                pad = self.denominator_slots[len(text) :].replace("#", "").replace("?", " ")
                self.place(out, [(den_begin, den_end, self.denominator_slots)], text + pad, False)
        if integer_part:
            digits = str(whole) if whole else ("0" if blank else "")
            integer = filled(digits, self.integer_slots)
            if self.group:
                integer = grouped(integer)
            self.place(out, self.integer_runs, integer, True)
        return "".join(out)


def simple_number(prefix, layout, suffix):
    """A fast renderer for the usual number section: literal text, then the placeholders
    without text among them, then literal text."""
    shift, places, group = layout.shift, layout.places, layout.group
    slots, decimal_slots = layout.integer_slots, layout.decimal_slots
    point = "." if layout.point is not None else ""
    # whole numbers: "#,##0"-like codes need no padding once there is a digit
    padded = "0" in slots[:-1] or "?" in slots
    zero = filled("", slots)
    optional = places and decimal_slots[-1] != "0"

    def render(value):
        whole, decimals = scaled(value, shift, places)
        if whole:
            integer = f"{whole:,}" if group else str(whole)
            if padded and len(integer) < len(slots):
                integer = filled(str(whole), slots)
                if group:
                    integer = grouped(integer)
        else:
            integer = grouped(zero) if group and padded else zero
        if optional:
            decimals = decimals_shown(decimals, decimal_slots)
        return f"{prefix}{integer}{point}{decimals}{suffix}"

    return render


# --- dates and times ----------------------------------------------------------------------


def date_parts(serial):
    """(year, month, day, weekday (0 Sunday)) of a serial's day in the 1900 date system,
    which counts 1900-02-29 (serial 60) and calls 1900-01-01 a Sunday."""
    if serial > 60:
        day = dt.date.fromordinal(EPOCH + serial)
        return day.year, day.month, day.day, (day.weekday() + 1) % 7
    if serial == 60:
        return 1900, 2, 29, 3
    if serial == 0:
        return 1900, 1, 0, 6
    day = dt.date.fromordinal(EPOCH + serial + 1)
    return day.year, day.month, day.day, day.weekday() % 7  # one day off before the 29th


# the values a date or time section picks from, by index
YEAR, YEAR2, MONTH, DAY, HOUR, HOUR12, MINUTE, SECOND = range(8)
MONTH_ABBR, MONTH_NAME, MONTH_LETTER, DAY_ABBR, DAY_NAME = range(8, 13)
FRACTION = 12  # + 1, 2 or 3: the fraction of a second to that many digits, with its point
HOURS, MINUTES, SECONDS, BUDDHIST, BUDDHIST2 = range(16, 21)
DATE_FIELDS = frozenset({YEAR, YEAR2, MONTH, DAY, BUDDHIST, BUDDHIST2, *range(8, 13)})
TIME_FIELDS = frozenset({HOUR, HOUR12, MINUTE, SECOND, 13, 14, 15, HOURS, MINUTES, SECONDS})


def date_fields(tokens):
    """[(%-format, value index) or literal text] of a date or time section's tokens."""
    # m and mm are minutes right after an hour or right before a second
    parts = [index for index, (kind, _) in enumerate(tokens) if kind in ("date", "elapsed")]
    for position, index in enumerate(parts):
        kind, text = tokens[index]
        if kind != "date" or text[0] != "m" or len(text) > 2:
            continue
        before = tokens[parts[position - 1]] if position else None
        after = tokens[parts[position + 1]] if position + 1 < len(parts) else None
        if (before and before[1][0] == "h") or (after and after[1][0] == "s"):
            tokens[index] = ("minute", text)
    twelve = any(kind in ("ampm", "ap") for kind, _ in tokens)
    fields = []
    for kind, text in tokens:
        count = len(text)
        padded = "%02d" if count == 2 else "%d"
        if kind == "lit":
            fields.append(text)
        elif kind == "fraction":
            fields.append(("%s", FRACTION + count - 1))
        elif kind in ("ampm", "ap"):
            fields.append((kind, text))
        elif kind == "elapsed":
            unit = {"h": HOURS, "m": MINUTES, "s": SECONDS}[text[0]]
            fields.append((padded, unit))
        elif kind == "minute":
            fields.append((padded, MINUTE))
        else:
            letter = text[0]
            if letter == "y":
                fields.append(("%02d", YEAR2) if count <= 2 else ("%04d", YEAR))
            elif letter == "e":
                fields.append(("%04d", YEAR))
            elif letter == "b":
                fields.append(("%02d", BUDDHIST2) if count <= 2 else ("%d", BUDDHIST))
            elif letter == "g":
                continue  # the era: nothing in the Gregorian calendar
            elif letter == "m":
                names = {3: MONTH_ABBR, 5: MONTH_LETTER}
                fields.append(
                    (padded, MONTH) if count <= 2 else ("%s", names.get(count, MONTH_NAME))
                )
            elif letter == "d":
                fields.append(
                    (padded, DAY) if count <= 2 else ("%s", DAY_ABBR if count == 3 else DAY_NAME)
                )
            elif count > 2:
                raise Refused(text)  # hhh, sss
            elif letter == "h":
                fields.append((padded, HOUR12 if twelve else HOUR))
            else:
                fields.append((padded, SECOND))
    return fields


def template_of(fields, afternoon):
    """(%-template, the value indexes it takes) of `fields`, AM/PM shown as `afternoon`."""
    template, indexes = [], []
    for field in fields:
        if type(field) is str:
            template.append(field.replace("%", "%%"))
        elif field[0] == "ampm":
            template.append("PM" if afternoon else "AM")
        elif field[0] == "ap":
            template.append(field[1][2] if afternoon else field[1][0])
        else:
            template.append(field[0])
            indexes.append(field[1])
    return "".join(template), tuple(indexes)


def picker(indexes):
    """A function taking the values' tuple to the tuple the template takes."""
    if not indexes:
        return lambda values: ()
    if len(indexes) == 1:
        (only,) = indexes
        return lambda values: (values[only],)
    return itemgetter(*indexes)


def date_section(tokens):
    """(renderer of a serial, renderer of a datetime.date or datetime.datetime or None
    when the serial's is needed) of a date or time section, from its tokens."""
    fields = date_fields(tokens)
    morning, used = template_of(fields, False)
    afternoon, _ = template_of(fields, True)
    twelve = morning != afternoon
    pick = picker(used)
    used = set(used)
    places = max(
        (index - FRACTION for index in used if FRACTION < index <= FRACTION + 3), default=0
    )
    scale = POWERS[places]
    # a time shows its seconds rounded to what the code shows of them; a date alone is
    # the day the serial is in
    has_time = bool(used & TIME_FIELDS) or twelve
    has_date = bool(used & DATE_FIELDS)
    elapsed = bool(used & {HOURS, MINUTES, SECONDS})

    def values_of(year, month, day, weekday, hour, minute, second, ticks, days):
        fraction = "." + str(ticks).zfill(places) if places else ""
        if elapsed:
            hours = days * 24 + hour
            minutes = hours * 60 + minute
            seconds = minutes * 60 + second
        else:
            hours = minutes = seconds = 0
        if has_date:
            name = MONTHS[month - 1]
            day_name = DAYS[weekday]
            return (
                year, year % 100, month, day, hour, (hour + 11) % 12 + 1, minute, second,
                name[:3], name, name[0], day_name[:3], day_name,
                fraction[:2], fraction[:3], fraction[:4], hours, minutes, seconds,
                year + 543, (year + 543) % 100,
            )  # fmt: skip
        return (
            0, 0, 0, 0, hour, (hour + 11) % 12 + 1, minute, second, "", "", "", "", "",
            fraction[:2], fraction[:3], fraction[:4], hours, minutes, seconds, 0, 0,
        )  # fmt: skip

    def render(value):
        if value < 0 or value >= MAX_SERIAL:
            return None
        days = int(value)
        seconds_float = (value - days) * 86400
        seconds = int(seconds_float)
        rest = seconds_float - seconds
        if rest > 0.9999:
            rest, seconds = 0.0, seconds + 1
        elif rest < 1e-6:
            rest = 0.0
        ticks = math.floor(rest * scale + 0.5) if rest and has_time else 0
        if ticks >= scale:
            ticks, seconds = 0, seconds + 1
        if seconds >= 86400:
            seconds -= 86400
            days += 1
            if days >= MAX_SERIAL:
                return None
        hour, remainder = divmod(seconds, 3600)
        minute, second = divmod(remainder, 60)
        year, month, day, weekday = date_parts(days) if has_date else (0, 1, 0, 0)
        values = values_of(year, month, day, weekday, hour, minute, second, ticks, days)
        return (afternoon if twelve and hour >= 12 else morning) % pick(values)

    if elapsed:
        return render, None

    def render_moment(value):
        """A date or date-time on or after 1900-03-01 straight from its fields, or None
        when only its serial tells (a second rounded up into the next)."""
        if value.year < 1900 or (value.year == 1900 and value.month < 3):
            return None
        if type(value) is dt.date:
            hour = minute = second = ticks = 0
        else:
            hour, minute, second = value.hour, value.minute, value.second
            ticks = 0
            micro = value.microsecond
            if micro and has_time:
                ticks = (micro * scale + 500_000) // 1_000_000
                if ticks >= scale:
                    return None
        values = values_of(
            value.year, value.month, value.day, value.isoweekday() % 7,
            hour, minute, second, ticks, 0,
        )  # fmt: skip
        return (afternoon if twelve and hour >= 12 else morning) % pick(values)

    return render, render_moment


# --- the code's grammar -------------------------------------------------------------------


def sections_of(code):
    """The code cut at its `;` (outside quotes and escapes)."""
    sections, start, index, length = [], 0, 0, len(code)
    while index < length:
        char = code[index]
        if char == '"':
            end = code.find('"', index + 1)
            if end < 0:
                raise Refused("unclosed quote")
            index = end + 1
            continue
        if char in "\\_*":
            index += 2
            continue
        if char == "[":
            end = code.find("]", index + 1)
            if end < 0:
                raise Refused("unclosed bracket")
            index = end + 1
            continue
        if char == ";":
            sections.append(code[start:index])
            start = index + 1
        index += 1
    sections.append(code[start:])
    if len(sections) > MAX_SECTIONS:
        raise Refused("sections")
    return sections


def tokens_of(section):
    """[(kind, text)] of one section, and its condition ((operator, threshold) or None).
    Kinds: lit, slot (0 # ?), '.', ',', E (text: + or -), '/', digits, general, text (@),
    date (y m d h s e g b runs), elapsed, fraction (.0 of a second), ampm, ap."""
    tokens, condition = [], None
    index, length = 0, len(section)
    while index < length:
        char = section[index]
        lower = char.lower()
        if char == '"':
            end = section.find('"', index + 1)
            tokens.append(("lit", section[index + 1 : end]))
            index = end + 1
        elif char == "\\":
            tokens.append(("lit", section[index + 1 : index + 2]))
            index += 2
        elif char == "_":
            tokens.append(("lit", " "))
            index += 2
        elif char == "*":
            index += 2
        elif char == "[":
            end = section.find("]", index + 1)
            block = section[index : end + 1]
            index = end + 1
            found = CONDITION.fullmatch(block)
            if found:
                if condition is not None:
                    raise Refused("two conditions")
                condition = (found.group(1), float(found.group(2)))
                continue
            found = ELAPSED.fullmatch(block)
            if found:
                letters = found.group(1).lower()
                if len(letters) > 2:
                    raise Refused(block)
                tokens.append(("elapsed", letters))
                continue
            found = CURRENCY.fullmatch(block)
            if found:
                tokens.append(("lit", found.group(1)))
            # colours, [DBNum1] and other blocks show nothing
        elif section[index : index + 7].lower() == "general":
            tokens.append(("general", "General"))
            index += 7
        elif char == "@":
            tokens.append(("text", "@"))
            index += 1
        elif section[index : index + 5].upper() == "AM/PM":
            tokens.append(("ampm", "AM/PM"))
            index += 5
        elif section[index : index + 3].upper() == "A/P":
            tokens.append(("ap", section[index : index + 3]))
            index += 3
        elif lower in DATE_LETTERS and not (
            lower == "e" and section[index + 1 : index + 2] in ("+", "-") and tokens_number(tokens)
        ):
            if lower == "b" and section[index + 1 : index + 2] in ("1", "2"):
                index += 2  # a calendar: the Gregorian one is shown
                continue
            end = index + 1
            while end < length and section[end].lower() == lower:
                end += 1
            tokens.append(("date", lower * (end - index)))
            index = end
        elif char in "Ee" and section[index + 1 : index + 2] in ("+", "-"):
            tokens.append(("E", section[index + 1]))
            index += 2
        elif char in PLACEHOLDERS:
            tokens.append(("slot", char))
            index += 1
        elif char == ".":
            end = index + 1
            while end < length and section[end] == "0":
                end += 1
            tokens.append((".", section[index:end]))
            index = end
        elif char in ",/":
            tokens.append((char, char))
            index += 1
        elif char == "%":
            tokens.append(("percent", "%"))
            index += 1
        elif char in "123456789":
            end = index + 1
            while end < length and section[end].isdigit():
                end += 1
            tokens.append(("digits", section[index:end]))
            index = end
        else:
            tokens.append(("lit", char))
            index += 1
    return tokens, condition


def tokens_number(tokens):
    """Whether the tokens so far hold a digit placeholder (an E after one is an exponent)."""
    return any(kind == "slot" for kind, _ in tokens)


def literal_of(kind, text):
    """What a token shows where it means nothing more: itself."""
    return "E" + text if kind == "E" else text


def compile_section(section):
    """(renderer, kind, whether its condition drops the sign, its condition, renderer of
    a date or datetime or None) of one section. The renderer takes a number >= 0 (a text
    for a text section); kinds: number, date, general, text, literal."""
    tokens, condition = tokens_of(section)
    tokens = [token for token in tokens if token != ("lit", "")]
    kinds = {kind for kind, _ in tokens}
    strips = condition is not None and (
        (condition[0] == "=" and condition[1] < 0)
        or (condition[0] == "<" and condition[1] <= 0)
        or (condition[0] == "<=" and condition[1] < 0)
    )
    if kinds & {"date", "elapsed", "ampm", "ap"}:
        if kinds & {"slot", "general", "text", "E", "digits"}:
            raise Refused("a date with numbers")
        dated = []
        for kind, text in tokens:
            if kind == "." and len(text) > 1:  # .0 to .000: a fraction of a second
                if len(text) > 4:
                    raise Refused("fraction of a second")
                dated.append(("fraction", text))
            elif kind in ("date", "elapsed", "ampm", "ap"):
                dated.append((kind, text))
            else:
                dated.append(("lit", literal_of(kind, text)))
        render, moment = date_section(dated)
        return render, "date", strips, condition, moment
    if "text" in kinds:
        pieces = [None if kind == "text" else literal_of(kind, text) for kind, text in tokens]

        def text_render(value):
            return "".join(value if piece is None else piece for piece in pieces)

        return text_render, "text", strips, condition, None
    if "general" in kinds:
        if kinds & {"slot", "E", "digits"}:
            raise Refused("General with placeholders")
        shown = [None if kind == "general" else literal_of(kind, text) for kind, text in tokens]

        def general_render(value):
            number = general(value)
            return "".join(number if piece is None else piece for piece in shown)

        return general_render, "general", strips, condition, None
    expanded = []  # '.00' is a point and two placeholders in a number
    for kind, text in tokens:
        if kind == ".":
            expanded.append((".", "."))
            expanded.extend(("slot", "0") for _ in text[1:])
        else:
            expanded.append((kind, text))
    if not any(kind == "slot" for kind, _ in expanded):
        text = "".join(literal_of(kind, value) for kind, value in expanded)
        return (lambda value: text), "literal", strips, condition, None
    layout = NumberLayout(expanded)
    kinds_list = layout.kinds
    if layout.slash is None and layout.exponent_at is None:
        first = kinds_list.index("slot")
        last = len(kinds_list) - 1 - kinds_list[::-1].index("slot")
        point_inside = layout.point is None or first < layout.point < last
        if point_inside and all(kind in ("slot", ".") for kind in kinds_list[first : last + 1]):
            prefix = "".join(text for _, text in layout.tokens[:first])
            suffix = "".join(text for _, text in layout.tokens[last + 1 :])
            return simple_number(prefix, layout, suffix), "number", strips, condition, None
    return layout.render, "number", strips, condition, None


GENERAL_SECTION = (general, "general", False, None, None)


def shown_as(section, signed):
    """number(value) through one section: `signed`, a negative value keeps its minus
    (in front of everything); else it is shown as its absolute value."""
    render, kind, strips = section[:3]
    signed = signed and not strips
    if kind == "text":
        return lambda value: None
    if kind == "general":
        return render if signed else lambda value: render(-value if value < 0 else value)
    if kind == "date":

        def dated(value):
            if value < 0:
                if signed:
                    return None
                value = -value
            return render(value)

        return dated

    def number(value):
        if value < 0:
            return "-" + render(-value) if signed else render(-value)
        return render(value)

    return number


class NumberFormat:
    """A compiled code: number(value) for a finite int or float, text(value) for a
    string; each the text Excel shows, or None (then the caller writes the value).
    moment(value), when not None, shows a datetime.date or datetime.datetime without
    its serial (None: ask number() with the serial)."""

    def __init__(self, code):
        sections = sections_of(code)
        compiled = [compile_section(section) for section in sections]
        count = len(sections)
        last_is_text = compiled[-1][1] == "text"
        self.has_text = "@" in code or count >= 4  # a text section says how text shows
        # as SheetJS's SSF reads Excel's rules: the sections for positive, negative,
        # zero and text, and whether a negative number under them keeps its minus
        shares = count - 1 if count < 4 and last_is_text else count
        if count == 1:
            chosen = [GENERAL_SECTION] * 3 if last_is_text else [compiled[0]] * 3
        elif count == 2:
            chosen = [compiled[0]] * 3 if last_is_text else [compiled[0], compiled[1], compiled[0]]
        elif count == 3 and last_is_text:
            chosen = [compiled[0], compiled[1], compiled[0]]
        else:
            chosen = compiled[:3]
        last = compiled[-1]
        self.text_section = (
            last[0]
            if (count == 4 or last_is_text)
            and last[1]
            in (
                "text",
                "literal",
            )
            else None
        )
        signed = shares <= 1
        first, second = chosen[0][3], chosen[1][3]
        positive, negative, zero = (shown_as(section, signed) for section in chosen)
        if first is None and second is None:

            def number(value):
                if value > 0:
                    return positive(value)
                if value < 0:
                    return negative(value)
                return zero(value)

        else:
            by_condition = [shown_as(section, True) for section in chosen]
            nonnegative = first is not None and (
                (first[0] == ">" and first[1] < 0) or (first[0] == ">=" and first[1] <= 0)
            )

            def number(value):
                if value > 0 and first is None:
                    return positive(value)
                if holds(value, first):
                    return by_condition[0](value)
                if holds(value, second):
                    return by_condition[1](value)
                if second is None and value < 0:
                    return negative(value) if count >= 3 or nonnegative else by_condition[1](value)
                if count >= 3:
                    return by_condition[2](value)
                if value < 0:
                    return None
                if first is not None and second is not None:
                    return zero(value)
                return negative(value)

        self.number = number
        # dates and date-times straight from their fields under a date code's one section
        self.moment = chosen[0][4] if first is None and second is None else None

    def text(self, value):
        section = self.text_section
        return None if section is None else section(value)


def holds(value, condition):
    if condition is None:
        return False
    operator, threshold = condition
    if operator == "=":
        return value == threshold
    if operator == ">":
        return value > threshold
    if operator == "<":
        return value < threshold
    if operator == ">=":
        return value >= threshold
    if operator == "<=":
        return value <= threshold
    return value != threshold


@lru_cache(maxsize=4096)
def compiled(code):
    """The NumberFormat of a code, or None for one this module does not render (General
    itself included: its cells keep the value rules)."""
    if not isinstance(code, str) or not code or len(code) > MAX_CODE:
        return None
    if code.strip().lower() == "general":
        return None
    try:
        return NumberFormat(code)
    except (Refused, ValueError, IndexError, RecursionError, OverflowError):
        return None
