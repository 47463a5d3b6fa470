"""Understand what people type into a chat: amounts, counts, dates, phones, codes and choices.

Pure functions: text in, a typed value out, or a `ParseError` whose `reason` and `example` the
engine shows as "reason + 例如：example". The parsers are tolerant of what Chinese keyboards
produce (full-width digits, Chinese punctuation, 万/亿/元 units, Chinese numerals, the IME's
"——" dash) and strict about anything whose meaning is not certain: a wrong figure in a filing
costs more than asking again.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from rapidfuzz import fuzz, process
from stdnum.cn import uscc


class ParseError(ValueError):
    """The input was not understood: `reason` says why, `example` shows an accepted input."""

    def __init__(self, reason: str, example: str) -> None:
        super().__init__(f"{reason} 例如：{example}")
        self.reason = reason
        self.example = example


# Examples shown after "例如：". Kept together so the wording stays consistent.
EXAMPLE_AMOUNT = "1234.56"
EXAMPLE_COUNT = "35"
# The format, for callers without a field: a field's own example (in its cycle) wins.
EXAMPLE_DATE = "2025-03-01"
EXAMPLE_YES_NO = "是 或 否"
EXAMPLE_MOBILE = "13800138000"
EXAMPLE_LANDLINE = "0991-2301105"
EXAMPLE_EMAIL = "name@example.com"
EXAMPLE_CREDIT_CODE = "91110108551385082Q"
EXAMPLE_TEXT = "北京某某科技有限公司"
EXAMPLE_OPTION = "输入选项的名称"


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

# Control and format characters arrive with pasted text (zero-width spaces, BOMs, bidi marks);
# they are invisible to the person and PostgreSQL refuses NUL in text. Whitespace controls are
# kept here because the whitespace collapse below turns them into single spaces.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
    # the remaining format characters (Unicode category Cf): number signs, shorthand and
    # hieroglyph controls, musical formatting
    "\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a]"
)
# Minus and hyphen look-alikes that NFKC leaves alone. The em dash is not among them: in free
# Chinese text "——" is punctuation; the value parsers treat it as a separator separately.
_MINUS = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2212\u02d7\u2043\ufe63", "-"))
_LONG_DASHES = re.compile("[\u2014\u2015\u2e3a\u2e3b\ufe58]+")
_TRAILING_PUNCT = re.compile(r"[\s。!~]+$")
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


# Terminal escape sequences pasted from a console (colours, titles): removed whole, so that
# no "[31m" is left behind when the ESC itself goes.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC: window titles, links
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)


def strip_invisible(text: str) -> str:
    """`text` without terminal escapes, control, format and bidi-override characters."""
    return _INVISIBLE.sub("", _ESCAPES.sub("", text))


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), minus variants to "-", whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFKC", strip_invisible(text)).translate(_MINUS)
    return " ".join(text.split())


def clean_text(text: str) -> str:
    """Free text kept as typed (no width folding: full-width Chinese punctuation stays), minus
    invisible characters, with whitespace collapsed."""
    return " ".join(strip_invisible(text).split())


def _value_text(text: str) -> str:
    """Normalised text of a structured value: IME dashes are separators, final "。" is noise."""
    return _TRAILING_PUNCT.sub("", _LONG_DASHES.sub("-", normalize(text)))


def _quote(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

_ZERO_WORDS = frozenset({"无", "没有", "零", "〇", "暂无", "不适用"})
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_WAN = Decimal(10000)

# Thousands separators only in groups of three, so "1,23" or "1.234,5" never guess a meaning.
_NUMBER = (
    r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?"
    r"|[0-9]{1,3}(?: [0-9]{3})+(?:\.[0-9]*)?"
    r"|[0-9]+(?:\.[0-9]*)?"
    r"|\.[0-9]+"
)
_AMOUNT = re.compile(
    rf"(?P<sign>[-+]|负)? ?(?P<num>{_NUMBER}) ?(?P<unit>万元|万|w|亿元|亿|元)?(?:人民币)?"
)
_UNIT_FACTOR = {
    None: Decimal(1),
    "万元": Decimal(1),
    "万": Decimal(1),
    "w": Decimal(1),
    "元": 1 / _WAN,
    "亿": _WAN,
    "亿元": _WAN,
}


def parse_amount(
    text: str, *, allow_negative: bool = False, max_abs: Decimal = Decimal("10000000")
) -> Decimal:
    """Money in 万元, quantized to 0.01 (ROUND_HALF_UP); "元" and "亿" are converted."""
    value = _value_text(text).casefold()
    if not value:
        raise ParseError("请输入金额（单位：万元）。", EXAMPLE_AMOUNT)
    if value in _ZERO_WORDS:
        return _ZERO
    match = _AMOUNT.fullmatch(value)
    if match is None:
        raise ParseError(_amount_problem(value), EXAMPLE_AMOUNT)
    amount = Decimal(match["num"].replace(",", "").replace(" ", "")) * _UNIT_FACTOR[match["unit"]]
    if match["sign"] in ("-", "负"):
        amount = -amount
    if amount == 0:
        return _ZERO  # never "-0.00"
    if amount < 0 and not allow_negative:
        raise ParseError("这一项不能为负数。", EXAMPLE_AMOUNT)
    if abs(amount) > max_abs:
        hint = "" if match["unit"] else "；如果填的是“元”，请在数字后加“元”"
        raise ParseError(
            f"金额过大：单位是万元，不能超过 {max_abs:f} 万元{hint}。",
            "12345000元" if hint else EXAMPLE_AMOUNT,
        )
    try:
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # only when a caller raises max_abs beyond Decimal's precision
        raise ParseError("金额过大，请检查。", EXAMPLE_AMOUNT) from None


def _amount_problem(value: str) -> str:
    """The most useful explanation of why `value` is not an amount."""
    if value.count(".") > 1:
        return "金额只能有一个小数点。"
    if "," in value:
        return "千位分隔的逗号应每三位一组，小数点用“.”，如 1,234.56。"
    if re.search(r"[万亿元w] ?[0-9]", value):
        return "请写成一个数字加单位，如 12.3万，不要写成“12万3”。"
    if re.search(r"[0-9]", value):
        return "无法识别这个金额：只写数字，单位可用万元、元或亿元（不写单位即为万元）。"
    return "请填写数字金额，单位为万元；不适用请填 0。"


_CN_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}


def _cn_section(text: str) -> int | None:
    """Value of a Chinese numeral below 10000 ("一百零八", "十二"), None when malformed."""
    if not text:
        return None
    total = 0
    digit: int | None = None
    last_unit = 10_000
    after_zero = False
    for char in text:
        if char in _CN_DIGIT:
            if digit is not None:  # "一二" is a digit string, not a number in words
                return None
            if _CN_DIGIT[char] == 0:
                after_zero = True
            else:
                digit = _CN_DIGIT[char]
            continue
        unit = _CN_UNIT.get(char)
        if unit is None or unit >= last_unit:
            return None
        if digit is None:
            if unit != 10 or total:  # only a leading "十" may drop its "一"
                return None
            digit = 1
        total += digit * unit
        last_unit, digit, after_zero = unit, None, False
    if digit is not None:
        # "一千五" is spoken for 1500 while "一千零五" is 1005.
        colloquial = last_unit in (100, 1000) and not after_zero
        total += digit * (last_unit // 10 if colloquial else 1)
    return total


def _cn_int(text: str) -> int | None:
    """Value of a Chinese numeral below 100 million ("三万五" = 35000), None when malformed."""
    high, wan, low = text.partition("万")
    if not wan:
        return _cn_section(text)
    high_value = _cn_section(high)
    if not high_value:
        return None
    if not low:
        return high_value * 10_000
    if len(low) == 1 and _CN_DIGIT.get(low):
        return high_value * 10_000 + _CN_DIGIT[low] * 1000
    low_value = _cn_section(low)
    return None if low_value is None else high_value * 10_000 + low_value


_COUNT = re.compile(
    r"(?P<sign>[-+]|负)? ?(?P<num>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?P<frac>\.[0-9]*)?"
)
_COUNT_UNIT = re.compile(r" ?(?:个人|[人名位个项件家次])$")
_CN_NUMERAL = re.compile(r"(?P<sign>负)?(?P<num>[零〇一二两三四五六七八九十百千万]+)")


def parse_count(text: str, *, maximum: int = 1_000_000) -> int:
    """A whole number >= 0, in digits or simple Chinese numerals, with an optional "人"/"个"."""
    value = _value_text(text)
    if not value:
        raise ParseError("请输入一个整数。", EXAMPLE_COUNT)
    if value in _ZERO_WORDS:
        return 0
    core = _COUNT_UNIT.sub("", value)
    digits = _COUNT.fullmatch(core)
    words = None if digits else _CN_NUMERAL.fullmatch(core)
    if digits:
        if digits["frac"] and digits["frac"].strip(".0"):
            raise ParseError("请输入整数，不能有小数。", EXAMPLE_COUNT)
        number_text = digits["num"].replace(",", "").lstrip("0") or "0"
        # Python refuses int() of very long digit strings; such input is too large anyway.
        number = int(number_text) if len(number_text) <= 18 else maximum + 1
        sign = digits["sign"]
    elif words:
        converted = _cn_int(words["num"])
        if converted is None:
            raise ParseError(f"无法识别“{_quote(core)}”，请用阿拉伯数字填写。", EXAMPLE_COUNT)
        number, sign = converted, words["sign"]
    else:
        raise ParseError("请输入一个整数（阿拉伯数字）。", EXAMPLE_COUNT)
    if sign in ("-", "负") and number:
        raise ParseError("数量不能为负数。", EXAMPLE_COUNT)
    if number > maximum:
        raise ParseError(f"数量过大：不能超过 {maximum}。", EXAMPLE_COUNT)
    return number


# ---------------------------------------------------------------------------------------------
# Dates and yes/no
# ---------------------------------------------------------------------------------------------

_DATE_FORMS = (
    re.compile(r"(?P<y>[0-9]{1,4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})"),
    re.compile(r"(?P<y>[0-9]{1,4})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})[日号]?"),
    re.compile(r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"),
)


def parse_date(text: str) -> date:
    """A calendar date, year first: 2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日, 20250301."""
    value = _value_text(text).replace(" ", "")
    if not value:
        raise ParseError("请输入日期。", EXAMPLE_DATE)
    for form in _DATE_FORMS:
        match = form.fullmatch(value)
        if match is None:
            continue
        year, month, day = match["y"], int(match["m"]), int(match["d"])
        if len(year) != 4:
            raise ParseError("年份请写完整的四位数字。", EXAMPLE_DATE)
        try:
            return date(int(year), month, day)
        except ValueError:
            raise ParseError(f"日期不存在：{year}年{month}月{day}日。", EXAMPLE_DATE) from None
    raise ParseError("无法识别这个日期，请按“年-月-日”填写。", EXAMPLE_DATE)


_YES = frozenset(
    {"是", "是的", "对", "对的", "有", "好", "好的", "确认", "确定", "可以", "嗯", "y", "yes", "ok"}
)
_NO = frozenset(
    {"否", "不是", "不是的", "不", "不对", "没有", "没", "无", "不要", "不用", "n", "no"}
)


def parse_yes_no(text: str) -> bool:
    """是/否 in the usual Chinese and English forms; digits are left to option numbering."""
    value = _value_text(text).casefold().rstrip(".")
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise ParseError("请回答“是”或“否”。", EXAMPLE_YES_NO)


# ---------------------------------------------------------------------------------------------
# Contact details
# ---------------------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s()-]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_COUNTRY_PREFIX = re.compile(r"(?:\+|00)86")


def _mobile_candidate(value: str) -> str:
    digits = _PHONE_SEPARATORS.sub("", value)
    prefix = _COUNTRY_PREFIX.match(digits)
    if prefix:
        return digits[prefix.end() :]
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    return digits


def parse_mobile(text: str) -> str:
    """A mainland mobile number as 11 digits; "+86", spaces and dashes are dropped."""
    value = _value_text(text)
    if not value:
        raise ParseError("请输入手机号。", EXAMPLE_MOBILE)
    digits = _mobile_candidate(value)
    if _MOBILE.fullmatch(digits):
        return digits
    if not digits.isascii() or not digits.isdigit():
        raise ParseError("手机号只能包含数字。", EXAMPLE_MOBILE)
    if len(digits) != 11:
        raise ParseError(f"手机号应为11位，您输入了{len(digits)}位。", EXAMPLE_MOBILE)
    raise ParseError("这不是有效的手机号：手机号为11位，以 13–19 开头。", EXAMPLE_MOBILE)


_EXTENSION = r"(?:-?(?:转|分机|ext\.?|x)-?|-)(?P<ext>[0-9]{1,6})"
_LANDLINE_SPLIT = re.compile(
    rf"(?:\((?P<a1>0[0-9]{{2,3}})\)-?|(?P<a2>0[0-9]{{2,3}})-)(?P<num>[0-9]{{7,8}})(?:{_EXTENSION})?"
)
_LANDLINE_RUN = re.compile(rf"(?P<run>0[0-9]{{9,11}})(?:{_EXTENSION})?")


def _area_code_length(area_or_run: str) -> int:
    # Only Beijing (010) and the 020–029 cities have three-digit area codes; all others four.
    return 3 if area_or_run[1] in "12" else 4


def parse_landline(text: str) -> str:
    """A landline with area code as "0991-2301105" (extension as "-123"), or a mobile number."""
    value = _value_text(text).casefold()
    if not value:
        raise ParseError("请输入带区号的电话号码。", EXAMPLE_LANDLINE)
    if _MOBILE.fullmatch(_mobile_candidate(value)):
        return _mobile_candidate(value)
    compact = re.sub(r" ?([()]) ?", r"\1", value)
    compact = re.sub(r" ?- ?| ", "-", compact)
    prefix = _COUNTRY_PREFIX.match(compact)
    if prefix:  # "+86 991 2301105": the trunk 0 is dropped in international form
        compact = "0" + compact[prefix.end() :].lstrip("-(").lstrip("0").replace(")", "", 1)
    split = _LANDLINE_SPLIT.fullmatch(compact)
    run = None if split else _LANDLINE_RUN.fullmatch(compact)
    if split:
        area, number, extension = split["a1"] or split["a2"], split["num"], split["ext"]
        if len(area) != _area_code_length(area) or area[1] == "0":
            raise ParseError(
                f"区号“{area}”不正确：010、020–029 为三位，其他区号为四位。", EXAMPLE_LANDLINE
            )
    elif run and run["run"][1] != "0":
        cut = _area_code_length(run["run"])
        area, number, extension = run["run"][:cut], run["run"][cut:], run["ext"]
        if len(number) not in (7, 8):
            raise ParseError("电话号码位数不对，请核对区号和号码。", EXAMPLE_LANDLINE)
    elif re.fullmatch(r"[2-9][0-9]{6,7}", compact):
        raise ParseError("请在号码前加上区号。", EXAMPLE_LANDLINE)
    else:
        raise ParseError("无法识别这个电话号码，请填写带区号的固定电话或手机号。", EXAMPLE_LANDLINE)
    return f"{area}-{number}" + (f"-{extension}" if extension else "")


_EMAIL_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_EMAIL_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
_EMAIL = re.compile(rf"(?P<local>{_EMAIL_LOCAL})@(?P<domain>{_EMAIL_DOMAIN})", re.IGNORECASE)


def parse_email(text: str) -> str:
    """A pragmatic e-mail check (local@domain.tld); the domain is lower-cased."""
    value = _value_text(text)
    if not value:
        raise ParseError("请输入邮箱地址。", EXAMPLE_EMAIL)
    if " " in value:
        raise ParseError("邮箱地址中不能有空格。", EXAMPLE_EMAIL)
    local, at, domain = value.rpartition("@")
    if not at:
        raise ParseError("邮箱地址缺少“@”。", EXAMPLE_EMAIL)
    if "@" in local:
        raise ParseError("邮箱地址只能有一个“@”。", EXAMPLE_EMAIL)
    # The Chinese full stop is a label separator in IDNA, and IMEs type it for ".".
    domain = domain.replace("。", ".")
    if "." not in domain:
        raise ParseError("“@”后面的域名不完整，应类似 example.com。", EXAMPLE_EMAIL)
    match = _EMAIL.fullmatch(f"{local}@{domain}")
    if match is None or len(local) > 64 or len(value) > 254:
        raise ParseError("邮箱地址格式不正确。", EXAMPLE_EMAIL)
    return f"{local}@{domain.lower()}"


# ---------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# ---------------------------------------------------------------------------------------------

_USCC_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPQRTUWXY")
_USCC_SEPARATORS = re.compile(r"[\s-]")


def parse_credit_code(text: str) -> str:
    """The 18-character 统一社会信用代码, upper-cased, with its check digit verified."""
    code = _USCC_SEPARATORS.sub("", _value_text(text)).translate(_ASCII_UPPER)
    if not code:
        raise ParseError("请输入18位统一社会信用代码。", EXAMPLE_CREDIT_CODE)
    if len(code) != 18:
        raise ParseError(f"统一社会信用代码应为18位，您输入了{len(code)}位。", EXAMPLE_CREDIT_CODE)
    wrong = "".join(dict.fromkeys(char for char in code if char not in _USCC_ALPHABET))
    if wrong and set(wrong) <= set("IOZSV"):
        raise ParseError(
            f"统一社会信用代码中不会出现字母 I、O、Z、S、V（您输入了“{'、'.join(wrong)}”），"
            "请检查是否把数字 1、0、2、5 输成了字母 I、O、Z、S。",
            EXAMPLE_CREDIT_CODE,
        )
    if wrong:
        raise ParseError(
            f"统一社会信用代码只能由数字和大写字母组成，不能包含“{_quote(wrong, 5)}”。",
            EXAMPLE_CREDIT_CODE,
        )
    if not code[:8].isdigit():
        raise ParseError("统一社会信用代码的前8位应为数字。", EXAMPLE_CREDIT_CODE)
    if not uscc.is_valid(code):
        raise ParseError("统一社会信用代码校验位不正确，请逐位核对。", EXAMPLE_CREDIT_CODE)
    return code


def parse_text(text: str, *, max_len: int = 200) -> str:
    """Free text (a name, a title) stored as typed: trimmed, whitespace runs collapsed,
    invisible and control characters removed, and nothing else changed: full-width brackets
    and digits are the contact's to choose. Comparisons normalise on their own."""
    value = clean_text(text)
    if not value:
        raise ParseError("内容不能为空。", EXAMPLE_TEXT)
    if len(value) > max_len:
        raise ParseError(
            f"内容过长：最多 {max_len} 个字，您输入了 {len(value)} 个字。", EXAMPLE_TEXT
        )
    return value


# ---------------------------------------------------------------------------------------------
# Choosing an option
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One choice: `value` is the stable id returned, `label` is shown, `aliases` are also read."""

    value: str  # stable id returned on match
    label: str  # shown text
    aliases: tuple[str, ...] = ()  # other names people type, e.g. "网工", "高项"


_NOT_KEY = re.compile(r"[\W_]+")
# A word is an ASCII run that may contain joiners ("mcse+internet" stays one word, so "MCSE"
# does not hit it) or a run of non-ASCII letters ("系统工程师").
_WORD = re.compile(r"[a-z0-9](?:[a-z0-9+#.&/-]*[a-z0-9+#])?|[^\W\x00-\x7f_]+")
_OPTION_NUMBER = re.compile(
    r"(?:第|no\.?|#)? ?\(?(?P<num>[0-9]+|(?<=第)[零〇一二两三四五六七八九十百]+)\)? ?"
    r"(?:个|项|号|条|种)? ?[.、):]?"
)
_FUZZY_CUTOFF = 70.0
_FUZZY_MARGIN = 8.0
_SHOWN_CANDIDATES = 5


def _key(text: str) -> str:
    """Comparison form: case, width, whitespace and punctuation do not matter."""
    return _NOT_KEY.sub("", normalize(text).casefold())


@dataclass(frozen=True, slots=True)
class _OptionIndex:
    options: tuple[Option, ...]
    exact: dict[str, tuple[int, ...]]  # key of a label or alias -> option positions
    words: dict[str, tuple[int, ...]]  # key of a word inside a label or alias -> positions
    names: tuple[tuple[int, str], ...]  # (position, key) of every label and alias
    fuzzy_names: tuple[tuple[int, str], ...]  # names plus their longer words ("ccna", "hcie")


def _build_index(options: tuple[Option, ...]) -> _OptionIndex:
    exact: dict[str, list[int]] = {}
    words: dict[str, list[int]] = {}
    names: list[tuple[int, str]] = []
    fuzzy_names: dict[tuple[int, str], None] = {}
    for position, option in enumerate(options):
        for name in (option.label, *option.aliases):
            key = _key(name)
            if not key:
                continue
            names.append((position, key))
            exact.setdefault(key, []).append(position)
            fuzzy_names[position, key] = None
            for word in _WORD.findall(normalize(name).casefold()):
                word_key = _key(word)
                word_positions = words.setdefault(word_key, [])
                if position not in word_positions:
                    word_positions.append(position)
                if len(word_key) >= 3:
                    fuzzy_names[position, word_key] = None
    return _OptionIndex(
        options=options,
        exact={key: tuple(dict.fromkeys(found)) for key, found in exact.items()},
        words={key: tuple(found) for key, found in words.items() if key},
        names=tuple(names),
        fuzzy_names=tuple(fuzzy_names),
    )


@lru_cache(maxsize=64)
def _cached_index(options: tuple[Option, ...]) -> _OptionIndex:
    return _build_index(options)


def _index(options: Sequence[Option]) -> _OptionIndex:
    frozen = tuple(options)
    try:
        return _cached_index(frozen)
    except TypeError:  # aliases given as a list: unhashable, so index without the cache
        return _build_index(frozen)


def match_option(text: str, options: Sequence[Option], *, fuzzy: bool = True) -> str:
    """The value of the option meant by `text`: its number, name, alias, a unique part of a
    name, or (when `fuzzy`) a clear best guess at a misspelt name."""
    index = _index(options)
    key = _key(text)
    if not key:
        raise ParseError("请从选项中选择一项，或输入它的名称。", _option_example(index))
    hits = index.exact.get(key)
    if hits:
        return _one(index, hits)
    number = _OPTION_NUMBER.fullmatch(normalize(text).casefold())
    if number:
        return _by_number(index, number["num"])
    hits = index.words.get(key)
    if hits:
        return _one(index, hits)
    hits = _positions(position for position, name in index.names if key in name)
    if hits:
        return _one(index, hits)
    # The person wrote more than a name ("软考网络工程师中级"): the longest name inside wins.
    inside = [
        (len(name), position) for position, name in index.names if len(name) >= 2 and name in key
    ]
    if inside:
        longest = max(length for length, _ in inside)
        return _one(index, _positions(pos for length, pos in inside if length == longest))
    if fuzzy and len(key) >= 2:
        hits = _fuzzy(index, key)
        if hits:
            return _one(index, hits)
    raise ParseError(f"没有找到与“{_quote(normalize(text))}”相符的选项。", _option_example(index))


def _positions(found: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(found)))


def _one(index: _OptionIndex, positions: tuple[int, ...]) -> str:
    if len(positions) == 1:
        return index.options[positions[0]].value
    shown = "、".join(
        f"{position + 1}. {index.options[position].label}"
        for position in positions[:_SHOWN_CANDIDATES]
    )
    more = f" 等{len(positions)}项" if len(positions) > _SHOWN_CANDIDATES else ""
    raise ParseError(f"您是指：{shown}{more}？请回复编号或完整名称", str(positions[0] + 1))


def _by_number(index: _OptionIndex, digits: str) -> str:
    count = len(index.options)
    number = _cn_int(digits) if not digits.isdigit() else int(digits) if len(digits) <= 9 else 0
    if number is None or not 1 <= number <= count:
        if count == 0:
            raise ParseError("当前没有可选的选项。", EXAMPLE_OPTION)
        raise ParseError(f"没有这个编号：请输入 1–{count} 之间的编号。", "1")
    return index.options[number - 1].value


def _fuzzy(index: _OptionIndex, key: str) -> tuple[int, ...]:
    """The clear fuzzy winner, or every option close to it, or nothing when none is near.

    Plain edit similarity, not a partial/token scorer: for Chinese names those reward sharing a
    common ending ("工程师"), so "软件工程师" would pass for "计算机硬件工程师".
    """
    best: dict[int, float] = {}
    for _, score, at in process.extract(
        key,
        [name for _, name in index.fuzzy_names],
        scorer=fuzz.ratio,
        limit=None,
        score_cutoff=_FUZZY_CUTOFF - _FUZZY_MARGIN,
    ):
        position = index.fuzzy_names[at][0]
        best[position] = max(score, best.get(position, 0.0))
    top = max(best.values(), default=0.0)
    if top < _FUZZY_CUTOFF:
        return ()
    close = [position for position, score in best.items() if top - score < _FUZZY_MARGIN]
    return tuple(sorted(close, key=lambda position: (-best[position], position)))


def _option_example(index: _OptionIndex) -> str:
    """An option's own name: Telegram shows options as buttons without numbers, so an example
    that speaks of numbers would not match what the person sees."""
    if not index.options:
        return EXAMPLE_OPTION
    return index.options[min(2, len(index.options) - 1)].label
