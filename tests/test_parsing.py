"""What people type into the chat, and what the parsers make of it (or refuse, and why)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains
from stdnum.cn import uscc

from dialogs.parsing import (
    Option,
    ParseError,
    match_option,
    normalize,
    parse_amount,
    parse_count,
    parse_credit_code,
    parse_date,
    parse_email,
    parse_landline,
    parse_mobile,
    parse_text,
    parse_yes_no,
)

_CJK = re.compile(r"[\u4e00-\u9fff]")
_FULL_WIDTH = str.maketrans("0123456789.,-", "０１２３４５６７８９．，－")


def refused(parse: Callable[..., object], text: str, **kwargs: Any) -> ParseError:
    """Assert that `parse` refuses `text` with a Chinese reason and an example."""
    with pytest.raises(ParseError) as caught:
        parse(text, **kwargs)
    error = caught.value
    assert _CJK.search(error.reason), error.reason
    assert error.example.strip()
    return error


def test_parse_error_carries_reason_and_example() -> None:
    error = ParseError("金额不能为负数。", "1234.56")
    assert isinstance(error, ValueError)
    assert (error.reason, error.example) == ("金额不能为负数。", "1234.56")
    assert "1234.56" in str(error)


# --- normalize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("１２３４．５", "1234.5"),
        ("１，２３４", "1,234"),
        ("ＡＢＣ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ABC@example.com"),
        ("  前后  空格\t\n和\u3000全角空格 ", "前后 空格 和 全角空格"),
        ("－12", "-12"),
        ("\u221212", "-12"),
        ("\u201312", "-12"),
        ("零\u200b宽\ufeff字符\x00", "零宽字符"),
        ("项目——一期", "项目——一期"),  # Chinese dash punctuation is kept in free text
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@given(st.text())
def test_normalize_is_idempotent_and_trimmed(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", "1234.50"),
        ("1,234.5", "1234.50"),
        ("1 234.5", "1234.50"),
        ("１２３４．５", "1234.50"),
        ("１，２３４．５", "1234.50"),
        ("1234.5万", "1234.50"),
        ("1234.5万元", "1234.50"),
        ("1234.5 万元", "1234.50"),
        ("12w", "12.00"),
        ("12W", "12.00"),
        ("12345000元", "1234.50"),
        ("1,234,567.89元", "123.46"),
        ("1.5亿", "15000.00"),
        ("2亿元", "20000.00"),
        ("0", "0.00"),
        ("无", "0.00"),
        ("没有", "0.00"),
        ("零", "0.00"),
        ("-0", "0.00"),
        ("1234.565", "1234.57"),  # ROUND_HALF_UP, not banker's rounding
        ("0.005", "0.01"),
        (".5", "0.50"),
        ("1234.5。", "1234.50"),
        ("10000000", "10000000.00"),
        (" 88 ", "88.00"),
    ],
)
def test_parse_amount_accepts(text: str, expected: str) -> None:
    result = parse_amount(text)
    assert result == Decimal(expected)
    assert str(result) == expected  # always two places, never "-0.00"


@pytest.mark.parametrize("text", ["-12.5", "－12.5", "负12.5", "\u221212.5", "-12.5万元"])
def test_parse_amount_negative_only_when_allowed(text: str) -> None:
    assert parse_amount(text, allow_negative=True) == Decimal("-12.50")
    assert "负数" in refused(parse_amount, text).reason


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("12.3.4", "小数点"),
        ("1,23", "三位一组"),
        ("1234,567", "三位一组"),
        ("1.234,5", "三位一组"),
        ("abc", "数字"),
        ("12万3", "12.3万"),
        ("", "金额"),
        ("   ", "金额"),
        ("12千元", "万元"),
        ("1e5", "万元"),
        ("12 34", "万元"),
        ("¥12", "万元"),
    ],
)
def test_parse_amount_refuses_ambiguous_or_garbage(text: str, mention: str) -> None:
    error = refused(parse_amount, text)
    assert mention in error.reason
    assert error.example == "1234.56"


@pytest.mark.parametrize(
    "text", ["10000000.01", "12345678", "2000亿", "99999999999999999999999999999"]
)
def test_parse_amount_refuses_absurd_magnitudes_naming_the_unit(text: str) -> None:
    error = refused(parse_amount, text)
    assert "万元" in error.reason
    assert "过大" in error.reason


def test_parse_amount_respects_a_custom_limit() -> None:
    assert parse_amount("500", max_abs=Decimal(500)) == Decimal("500.00")
    assert "500" in refused(parse_amount, "500.01", max_abs=Decimal(500)).reason


_AMOUNTS = st.decimals(
    min_value=Decimal(-10_000_000),
    max_value=Decimal(10_000_000),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@given(_AMOUNTS)
def test_parse_amount_round_trips_two_place_decimals(amount: Decimal) -> None:
    assert parse_amount(str(amount), allow_negative=True) == amount
    assert parse_amount(f"{amount:,}", allow_negative=True) == amount
    assert parse_amount(str(amount).translate(_FULL_WIDTH) + "万元", allow_negative=True) == amount
    assert parse_amount(f"{amount * 10000}元", allow_negative=True) == amount


# --- counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("35", 35),
        ("３５", 35),
        ("35人", 35),
        ("35 人", 35),
        ("35个人", 35),
        ("12项", 12),
        ("1,200", 1200),
        ("0", 0),
        ("无", 0),
        ("没有", 0),
        ("三十五", 35),
        ("十二", 12),
        ("一百零八", 108),
        ("两", 2),
        ("二十", 20),
        ("一千零八十", 1080),
        ("一千五", 1500),  # spoken short form of 一千五百
        ("三万五", 35000),
        ("一万零五", 10005),
        ("十万", 100_000),
        ("三十五人", 35),
        ("35.0", 35),
        ("1000000", 1_000_000),
    ],
)
def test_parse_count_accepts(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("-3", "负数"),
        ("负三", "负数"),
        ("3.5", "整数"),
        ("1000001", "1000000"),
        ("99999999999999999999999999", "过大"),
        ("abc", "整数"),
        ("", "整数"),
        ("一二", "阿拉伯数字"),
        ("百", "阿拉伯数字"),
        ("1,23", "整数"),
    ],
)
def test_parse_count_refuses(text: str, mention: str) -> None:
    error = refused(parse_count, text)
    assert mention in error.reason
    assert error.example == "35"


def test_parse_count_respects_maximum() -> None:
    assert parse_count("500", maximum=500) == 500
    assert "500" in refused(parse_count, "501", maximum=500).reason


def _to_chinese(number: int) -> str:
    """Standard Chinese numeral writing for 0 <= number < 100 million (test oracle)."""
    digits = "零一二三四五六七八九"

    def section(value: int) -> str:
        out, pending_zero = "", False
        for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
            digit = value // unit % 10
            if digit == 0:
                pending_zero = pending_zero or bool(out)
                continue
            out += ("零" if pending_zero else "") + digits[digit] + name
            pending_zero = False
        return out

    if number == 0:
        return "零"
    high, low = divmod(number, 10_000)
    if not high:
        text = section(low)
        return text[1:] if text.startswith("一十") else text
    text = section(high) + "万"
    if low:
        text += ("零" if low < 1000 else "") + section(low)
    return text


@given(st.integers(min_value=0, max_value=99_999_999))
def test_parse_count_reads_chinese_numerals(number: int) -> None:
    assert parse_count(_to_chinese(number), maximum=10**9) == number


@given(st.integers(min_value=0, max_value=1_000_000))
def test_parse_count_round_trips_digits(number: int) -> None:
    assert parse_count(str(number)) == number
    assert parse_count(f"{number:,}") == number
    assert parse_count(f"{number}人".translate(_FULL_WIDTH)) == number


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-01",
        "2025/3/1",
        "2025.3.1",
        "2025年3月1日",
        "2025年3月1号",
        "2025年3月1",
        "2025 年 3 月 1 日",
        "20250301",
        "２０２５－０３－０１",
        "２０２５年３月１日",
        "  2025-03-01  ",
        "2025年3月1日。",
    ],
)
def test_parse_date_accepts(text: str) -> None:
    assert parse_date(text) == date(2025, 3, 1)


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("2025-02-30", "2025年2月30日"),
        ("2025年13月1日", "不存在"),
        ("2024-02-30", "不存在"),
        ("25-03-01", "四位"),
        ("25年3月1日", "四位"),
        ("01/03/2025", "年-月-日"),
        ("2025-3/1", "年-月-日"),
        ("明天", "年-月-日"),
        ("", "日期"),
    ],
)
def test_parse_date_refuses(text: str, mention: str) -> None:
    error = refused(parse_date, text)
    assert mention in error.reason
    assert error.example == "2025-03-01"


def test_parse_date_knows_leap_years() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    refused(parse_date, "2025-02-29")


@given(st.dates())
def test_parse_date_round_trips_iso_and_compact(day: date) -> None:
    assert parse_date(day.isoformat()) == day
    assert parse_date(f"{day.year:04d}{day.month:02d}{day.day:02d}") == day
    assert parse_date(f"{day.year:04d}/{day.month}/{day.day}") == day


@given(st.dates(min_value=date(1000, 1, 1)))
def test_parse_date_round_trips_chinese_form(day: date) -> None:
    assert parse_date(f"{day.year}年{day.month}月{day.day}日") == day


# --- yes / no --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["是", "是的", "对", "对的", "有", "好", "好的", "y", "Y", "yes", "YES", "Yes", "是。"]
)
def test_parse_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize("text", ["否", "不是", "不", "没有", "无", "n", "N", "no", "No", "否！"])
def test_parse_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", ["1", "0", "2", "maybe", "也许", "", "是否"])
def test_parse_yes_no_refuses_digits_and_others(text: str) -> None:
    error = refused(parse_yes_no, text)
    assert "是" in error.reason
    assert error.example == "是 或 否"


# --- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086-138-0013-8000",
        "8613800138000",
        "138-0013-8000",
        "138 0013 8000",
        "１３８００１３８０００",
        "(+86) 138 0013 8000",
    ],
)
def test_parse_mobile_accepts(text: str) -> None:
    assert parse_mobile(text) == "13800138000"


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("1380013800", "您输入了10位"),
        ("138001380001", "您输入了12位"),
        ("12800138000", "13–19"),
        ("23800138000", "13–19"),
        ("138a0013800", "数字"),
        ("0991-2301105", "11位"),
        ("", "手机号"),
    ],
)
def test_parse_mobile_refuses(text: str, mention: str) -> None:
    error = refused(parse_mobile, text)
    assert mention in error.reason
    assert error.example == "13800138000"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_parse_mobile_round_trips(number: str) -> None:
    assert parse_mobile(number) == number
    assert parse_mobile(f"+86 {number[:3]} {number[3:7]} {number[7:]}") == number
    assert parse_mobile(number.translate(_FULL_WIDTH)) == number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0991-2301105", "0991-2301105"),
        ("0991 2301105", "0991-2301105"),
        ("(0991)2301105", "0991-2301105"),
        ("（0991）2301105", "0991-2301105"),
        ("(0991) 2301105", "0991-2301105"),
        ("09912301105", "0991-2301105"),
        ("０９９１－２３０１１０５", "0991-2301105"),
        ("0991—2301105", "0991-2301105"),
        ("0991——2301105", "0991-2301105"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("021 87654321", "021-87654321"),
        ("0991-2301105-123", "0991-2301105-123"),
        ("0991-2301105转123", "0991-2301105-123"),
        ("0991-2301105 转 123", "0991-2301105-123"),
        ("+86 991 2301105", "0991-2301105"),
        ("+86-10-12345678", "010-12345678"),
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
    ],
)
def test_parse_landline_accepts(text: str, expected: str) -> None:
    assert parse_landline(text) == expected


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("2301105", "区号"),
        ("099-12301105", "区号"),
        ("0001-2301105", "区号"),
        ("0991-23011", "电话"),
        ("099123011", "电话"),
        ("abc", "电话"),
        ("", "区号"),
    ],
)
def test_parse_landline_refuses(text: str, mention: str) -> None:
    error = refused(parse_landline, text)
    assert mention in error.reason
    assert error.example == "0991-2301105"


@given(
    st.one_of(
        st.from_regex(r"0(?:10|2[0-9])", fullmatch=True).map(lambda a: (a, "8")),
        st.from_regex(r"0[3-9][0-9]{2}", fullmatch=True).map(lambda a: (a, "7")),
        st.from_regex(r"0[3-9][0-9]{2}", fullmatch=True).map(lambda a: (a, "8")),
    ),
    st.data(),
)
def test_parse_landline_normalises_every_layout(
    area_and_length: tuple[str, str], data: Any
) -> None:
    area, length = area_and_length
    number = data.draw(st.from_regex(rf"[2-8][0-9]{{{int(length) - 1}}}", fullmatch=True))
    expected = f"{area}-{number}"
    for layout in (f"{area}-{number}", f"({area}){number}", f"{area} {number}", area + number):
        assert parse_landline(layout) == expected


# --- e-mail ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name@example.com", "name@example.com"),
        ("Name@Example.COM", "Name@example.com"),
        ("name＠example.com", "name@example.com"),
        ("ｎａｍｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "name@example.com"),
        ("  zhang.san+nj@mail.163.com ", "zhang.san+nj@mail.163.com"),
        ("abc@163。com", "abc@163.com"),
        ("abc@xn--fiqs8s.xn--fiqs8s", "abc@xn--fiqs8s.xn--fiqs8s"),
    ],
)
def test_parse_email_accepts(text: str, expected: str) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("a b@c.com", "空格"),
        ("abc.com", "@"),
        ("a@@b.com", "一个"),
        ("a@b@c.com", "一个"),
        ("a@b", "域名"),
        ("abc@163,com", "域名"),
        ("a@b.c", "格式"),
        ("a@b.c1", "格式"),
        (".a@b.com", "格式"),
        ("a..b@b.com", "格式"),
        ("@example.com", "格式"),
        ("", "邮箱"),
    ],
)
def test_parse_email_refuses(text: str, mention: str) -> None:
    error = refused(parse_email, text)
    assert mention in error.reason
    assert "@" in error.example


@given(st.emails(domains=domains(max_length=120)))
def test_parse_email_accepts_generated_addresses(address: str) -> None:
    local, _, domain = address.rpartition("@")
    assert parse_email(address) == f"{local}@{domain.lower()}"


# --- unified social credit code --------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALID_CODE = "91110108551385082Q"


def _check_digit(body: str) -> str:
    """GB 32100-2015 check character, computed independently of stdnum (weights are 3^i mod 31)."""
    total = sum(_USCC_ALPHABET.index(char) * pow(3, i, 31) for i, char in enumerate(body))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


_CODES = st.builds(
    lambda head, tail: head + tail + _check_digit(head + tail),
    st.text("0123456789", min_size=8, max_size=8),
    st.text(_USCC_ALPHABET, min_size=9, max_size=9),
)


def test_example_code_is_valid() -> None:
    assert uscc.is_valid(VALID_CODE)
    assert _check_digit(VALID_CODE[:17]) == VALID_CODE[17]


@pytest.mark.parametrize(
    "text",
    [
        VALID_CODE,
        VALID_CODE.lower(),
        "9111 0108 5513 8508 2Q",
        "91110108-551385082-Q",
        "９１１１０１０８５５１３８５０８２Ｑ",
        f" {VALID_CODE} ",
    ],
)
def test_parse_credit_code_accepts(text: str) -> None:
    assert parse_credit_code(text) == VALID_CODE


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        (VALID_CODE[:16], "应为18位，您输入了16位"),
        (VALID_CODE + "1", "应为18位，您输入了19位"),
        ("", "18位"),
        (VALID_CODE[:14] + "O" + VALID_CODE[15:], "I、O、Z、S、V"),
        (VALID_CODE[:17] + "I", "“I”"),
        (VALID_CODE[:16] + "中" + VALID_CODE[17:], "“中”"),
        ("A" + VALID_CODE[1:], "前8位"),
        (VALID_CODE[:17] + "A", "校验位不正确"),
        ("91110108551385083Q", "校验位不正确"),
    ],
)
def test_parse_credit_code_refuses(text: str, mention: str) -> None:
    error = refused(parse_credit_code, text)
    assert mention in error.reason
    assert error.example == VALID_CODE


@given(_CODES)
def test_parse_credit_code_accepts_every_valid_code(code: str) -> None:
    check = getattr(uscc, "calc_check_digit", None)
    if check is not None:
        assert check(code[:17]) == code[17]
    assert parse_credit_code(code) == code
    assert parse_credit_code(code.lower()) == code


@given(_CODES, st.data())
def test_parse_credit_code_refuses_one_changed_character(code: str, data: Any) -> None:
    position = data.draw(st.integers(min_value=0, max_value=17))
    allowed = "0123456789" if position < 8 else _USCC_ALPHABET
    replacement = data.draw(st.sampled_from([c for c in allowed if c != code[position]]))
    changed = code[:position] + replacement + code[position + 1 :]
    assert "校验位" in refused(parse_credit_code, changed).reason


# --- free text -------------------------------------------------------------------------------


def test_parse_text() -> None:
    assert parse_text("  新疆某某  信息技术有限公司 ") == "新疆某某 信息技术有限公司"
    assert parse_text("ＡＢＣ\u3000公司") == "ＡＢＣ 公司"  # stored as typed, only spaces fold
    assert parse_text("x" * 200) == "x" * 200
    assert "不能为空" in refused(parse_text, " \u3000\n").reason
    error = refused(parse_text, "长" * 11, max_len=10)
    assert "10" in error.reason
    assert "11" in error.reason


# --- options ---------------------------------------------------------------------------------

CATALOG = (
    Option("rk_process", "软件过程能力评估师"),
    Option("rk_tester", "软件评测师"),
    Option("rk_designer", "软件设计师", ("软设",)),
    Option("rk_network", "网络工程师", ("网工",)),
    Option("rk_multimedia", "多媒体应用设计师"),
    Option("rk_embedded", "嵌入式系统设计师"),
    Option("rk_ecommerce", "电子商务设计师"),
    Option("rk_cad", "计算机辅助设计师"),
    Option("rk_si_pm", "系统集成项目管理工程师", ("中项",)),
    Option("rk_security", "信息安全工程师"),
    Option("rk_supervisor", "信息系统监理师"),
    Option("rk_ism", "信息系统管理工程师"),
    Option("rk_database", "数据库系统工程师"),
    Option("rk_hardware", "计算机硬件工程师"),
    Option("rk_it_support", "信息技术支持工程师"),
    Option("rk_pm", "信息系统项目管理师", ("高项",)),
    Option("rk_analyst", "系统分析师"),
    Option("rk_architect", "系统架构设计师", ("架构师",)),
    Option("rk_network_planner", "网络规划设计师"),
    Option("rk_service_planner", "系统规划与管理师"),
    Option("si_manager", "系统集成实施工程经理"),
    Option("its_evaluation", "信息技术服务从业人员评价证书"),
    Option("ccna", "CCNA（Cisco 初级）"),
    Option("ccnp", "CCNP（Cisco 高级）"),
    Option("ccie", "CCIE 互联网专家（Cisco 认证）"),
    Option("hcia", "HCIA（华为初级）"),
    Option("hcip", "HCIP（华为高级）"),
    Option("hcie", "HCIE（华为专家级）"),
    Option("mcse", "系统工程师 MCSE（微软认证）"),
    Option("mcdba", "MCDBA 数据库管理员（微软认证）"),
    Option("mcp", "MCP 微软认证专家"),
    Option("mcsa", "MCSA 微软认证系统管理员"),
    Option("mcse_internet", "MCSE+Internet（微软认证）"),
    Option("oca", "Oracle OCA"),
    Option("ocp", "Oracle OCP"),
    Option("ocm", "Oracle OCM"),
    Option("itss_om_manager", "信息系统运行维护服务经理培训证书"),
    Option("itss_engineer", "ITSS IT 服务工程师"),
    Option("itss_manager", "ITSS IT 服务经理"),
)
VALUES = {option.value for option in CATALOG}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # by number
        ("3", "rk_designer"),
        ("３", "rk_designer"),
        ("第3个", "rk_designer"),
        ("第三个", "rk_designer"),
        ("3.", "rk_designer"),
        ("3、", "rk_designer"),
        ("(3)", "rk_designer"),
        ("39", "itss_manager"),
        # exact names that contain each other's words
        ("信息系统项目管理师", "rk_pm"),
        ("系统集成项目管理工程师", "rk_si_pm"),
        ("信息系统管理工程师", "rk_ism"),
        ("网络工程师", "rk_network"),
        ("网络规划设计师", "rk_network_planner"),
        ("数据库系统工程师", "rk_database"),
        # case, width, spaces and punctuation do not matter
        ("ccie 互联网专家 (cisco 认证)", "ccie"),
        ("ＣＣＮＡ", "ccna"),
        (" 网络 工程师 ", "rk_network"),
        # aliases
        ("网工", "rk_network"),
        ("高项", "rk_pm"),
        ("中项", "rk_si_pm"),
        # an exact word beats a longer name containing it
        ("MCSE", "mcse"),
        ("mcse", "mcse"),
        ("MCSE+Internet", "mcse_internet"),
        ("mcse internet", "mcse_internet"),
        ("CCIE", "ccie"),
        ("OCP", "ocp"),
        ("华为高级", "hcip"),
        # unique part of a name
        ("架构", "rk_architect"),
        ("嵌入式", "rk_embedded"),
        ("系统集成项目管理工程", "rk_si_pm"),
        ("信息系统项目管理", "rk_pm"),
        ("信息系统监理", "rk_supervisor"),
        ("系统分析", "rk_analyst"),
        # a name inside a longer sentence
        ("软考网络工程师中级", "rk_network"),
        ("系统架构师", "rk_architect"),
        # misspellings with a clear winner
        ("网络工程帅", "rk_network"),
        ("网络规化设计师", "rk_network_planner"),
        ("软件测评师", "rk_tester"),
        ("信系统监理师", "rk_supervisor"),
        ("数据库工程师", "rk_database"),
        ("系统集成项目管理工成师", "rk_si_pm"),
        ("oracel ocp", "ocp"),
    ],
)
def test_match_option_finds(text: str, expected: str) -> None:
    assert match_option(text, CATALOG) == expected


@pytest.mark.parametrize(
    ("text", "listed"),
    [
        ("项目管理", ["9. 系统集成项目管理工程师", "16. 信息系统项目管理师"]),
        ("网络", ["4. 网络工程师", "19. 网络规划设计师"]),
        ("oracle", ["34. Oracle OCA", "35. Oracle OCP", "36. Oracle OCM"]),
        ("系统集成项目经理", ["9. 系统集成项目管理工程师", "21. 系统集成实施工程经理"]),
        ("ccnq", ["23. CCNA（Cisco 初级）", "24. CCNP（Cisco 高级）"]),
    ],
)
def test_match_option_asks_when_ambiguous(text: str, listed: list[str]) -> None:
    error = refused(match_option, text, options=CATALOG)
    assert error.reason.startswith("您是指：")
    assert "请回复编号" in error.reason
    for candidate in listed:
        assert candidate in error.reason
    assert error.example == listed[0].split(".")[0]


def test_match_option_lists_at_most_five_candidates() -> None:
    error = refused(match_option, "设计师", options=CATALOG)
    assert error.reason.count("、") == 4
    assert "等7项" in error.reason


@pytest.mark.parametrize("text", ["xyz", "软件工程师", "中级", "12 34", "？？"])
def test_match_option_refuses_unknown(text: str) -> None:
    error = refused(match_option, text, options=CATALOG)
    # An option's own name: Telegram's buttons show no numbers to refer to.
    assert error.example in {o.label for o in CATALOG} and "编号" not in error.example


@pytest.mark.parametrize("text", ["0", "40", "第40个", "99999999999999"])
def test_match_option_refuses_out_of_range_number(text: str) -> None:
    assert "1–39" in refused(match_option, text, options=CATALOG).reason


def test_match_option_without_fuzzy_refuses_misspellings() -> None:
    assert match_option("网络工程师", CATALOG, fuzzy=False) == "rk_network"
    assert match_option("架构", CATALOG, fuzzy=False) == "rk_architect"
    refused(match_option, "网络工程帅", options=CATALOG, fuzzy=False)


def test_match_option_accepts_lists_and_list_aliases() -> None:
    options = [Option("a", "是"), Option("b", "否", ["不是"])]  # type: ignore[arg-type]
    assert match_option("不是", options) == "b"
    assert match_option("1", options) == "a"


def test_match_option_with_no_options() -> None:
    refused(match_option, "1", options=())
    refused(match_option, "网络工程师", options=())


@given(st.sampled_from(range(len(CATALOG))))
def test_match_option_every_label_and_number(position: int) -> None:
    option = CATALOG[position]
    assert match_option(option.label, CATALOG) == option.value
    assert match_option(option.label.upper().translate(_FULL_WIDTH), CATALOG) == option.value
    assert match_option(str(position + 1), CATALOG) == option.value
    for alias in option.aliases:
        assert match_option(alias, CATALOG) == option.value


# --- every parser: arbitrary text gives a value or a ParseError, nothing else ----------------

_PARSERS: list[tuple[Callable[[str], object], type]] = [
    (normalize, str),
    (parse_amount, Decimal),
    (lambda text: parse_amount(text, allow_negative=True), Decimal),
    (parse_count, int),
    (parse_date, date),
    (parse_yes_no, bool),
    (parse_mobile, str),
    (parse_landline, str),
    (parse_email, str),
    (parse_credit_code, str),
    (parse_text, str),
    (lambda text: match_option(text, CATALOG), str),
    (lambda text: match_option(text, CATALOG, fuzzy=False), str),
]

# Characters the parsers care about, so generated text reaches past the first check.
_INTERESTING = st.text(
    st.sampled_from(
        list("0123456789０１２３４５６７８９.,，．-－—+ ()（）@＠年月日号万元亿w负零一二两三十百千")
        + list("人个第是否不有无没转xXQqIiOo中网络工程师系统")
    ),
    max_size=24,
)


def _check_total(parse: Callable[[str], object], expected: type, text: str) -> None:
    try:
        result = parse(text)
    except ParseError as error:
        assert _CJK.search(error.reason)
        assert error.example
        return
    assert isinstance(result, expected)
    if isinstance(result, Decimal):
        assert result == result.quantize(Decimal("0.01"))
        assert abs(result) <= Decimal(10_000_000)
    if isinstance(result, int) and not isinstance(result, bool):
        assert 0 <= result <= 1_000_000
    if parse is parse_mobile:
        assert re.fullmatch(r"1[3-9][0-9]{9}", str(result))
    if parse is parse_credit_code:
        assert uscc.is_valid(str(result))
    if expected is str and parse is not normalize:
        assert result


@pytest.mark.parametrize(("parse", "expected"), _PARSERS)
@settings(deadline=None)
@given(text=st.text())
def test_every_parser_is_total_on_any_text(
    parse: Callable[[str], object], expected: type, text: str
) -> None:
    _check_total(parse, expected, text)


@pytest.mark.parametrize(("parse", "expected"), _PARSERS)
@settings(deadline=None)
@given(text=_INTERESTING)
def test_every_parser_is_total_on_near_miss_text(
    parse: Callable[[str], object], expected: type, text: str
) -> None:
    _check_total(parse, expected, text)
