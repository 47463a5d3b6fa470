"""A complete filing as a contact would type it: a 乙-grade enterprise first certified in
2025 (three years of business figures), 9 certificate holders (one person holds two), 12
projects, one innovation item and every attachment, with the messy inputs people really send
(full-width digits, 元 amounts, Chinese numerals, spaces in codes) and a few mistakes that must
be refused. Used by the end-to-end tests and by `make bench`.

The expected totals below were computed by hand from the figures in the script.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Bad:
    """An input the assistant must refuse (reply starts with ✗) without changing anything."""

    text: str


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


Step = str | Bad | Upload


def pdf_bytes(title: str) -> bytes:
    # Hex-encoded title: distinct documents get distinct bytes (and so distinct sha256).
    body = f"1 0 obj << /Title <{title.encode('utf-16-be').hex()}> >> endobj\n".encode("ascii")
    return b"%PDF-1.4\n" + body + b"trailer << /Root 1 0 R >>\n%%EOF\n"


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# (name, client, signed, accepted, merged, ten fee columns as typed)
PROJECTS: list[tuple[str, str, str, str, str, tuple[str, ...]]] = [
    ("乌鲁木齐市政务云平台", "乌鲁木齐市数据局", "2024-03-01", "2025-01-20", "否",
     ("1,205,000元", "10", "35.25", "8", "0", "无", "0", "210万", "15.75", "2")),
    ("昌吉州医保信息系统", "昌吉州医保局", "2024/5/6", "2025/2/28", "否",
     ("80", "5.5", "20", "12", "3", "0", "0", "95.4", "6", "0")),
    ("克拉玛依油田数据中心", "克拉玛依油田公司", "2023年9月1日", "2025年3月15日", "否",
     ("300", "20", "60", "25", "10", "5", "0", "4,000,000元", "30", "4.5")),
    ("哈密市智慧交通一期", "哈密市交通局", "20240610", "20250410", "否",
     ("45", "0", "12.8", "6", "0", "0", "0", "60", "0", "0")),
    ("石河子大学校园网改造", "石河子大学", "2024.7.1", "2025.5.9", "否",
     ("66.6", "8", "15", "5", "2", "1", "12", "70", "5", "1")),
    ("伊犁州应急指挥系统", "伊犁州应急管理局", "2024-08-18", "2025-06-30", "否",
     ("150", "１２", "40", "18", "6", "0", "0", "260", "22", "3")),
    ("吐鲁番市档案数字化", "吐鲁番市档案馆", "2024-10-01", "2025-07-01", "否",
     ("30", "2", "8", "3", "0", "0", "0", "38", "2", "0")),
    ("阿克苏地区视频监控联网", "阿克苏地区公安局", "2024-11-11", "2025-08-08", "否",
     ("210万元", "15", "55", "20", "8", "4", "0", "330", "25", "6")),
    ("库尔勒市水务物联网", "库尔勒市水务集团", "2025-01-05", "2025-09-19", "否",
     ("95", "6", "22", "9", "0", "2", "0", "120", "8", "1.2")),
    ("喀什地区医院HIS升级", "喀什地区第一人民医院", "2025-02-14", "2025-10-10", "否",
     ("52", "4", "13", "4", "1", "0", "0", "70", "3", "0")),
    ("博州中小学机房运维（合并）", "博州教育局", "2025-03-01", "2025-11-30", "是",
     ("12", "1", "3", "1", "0", "0", "0", "10", "0", "0")),
    ("塔城地区办公网络维护", "塔城地区行政公署", "2025-04-01", "2025-12-01", "否",
     ("18.5", "0.5", "4", "1.5", "0", "0", "0", "15", "1", "0")),
]  # fmt: skip

# Hand-computed: per project (service-fee total, contract amount), in 万元.
PROJECT_TOTALS: list[tuple[Decimal, Decimal]] = [
    (Decimal("173.75"), Decimal("401.50")),
    (Decimal("120.50"), Decimal("221.90")),
    (Decimal("420.00"), Decimal("854.50")),
    (Decimal("63.80"), Decimal("123.80")),
    (Decimal("97.60"), Decimal("185.60")),
    (Decimal("226.00"), Decimal("511.00")),
    (Decimal("43.00"), Decimal("83.00")),
    (Decimal("312.00"), Decimal("673.00")),
    (Decimal("134.00"), Decimal("263.20")),
    (Decimal("74.00"), Decimal("147.00")),
    (Decimal("17.00"), Decimal("27.00")),
    (Decimal("24.50"), Decimal("40.50")),
]
COLUMN_TOTALS: dict[str, Decimal] = {
    "project.fee_software": Decimal("1179.60"),
    "project.fee_consulting": Decimal("84.00"),
    "project.fee_integration": Decimal("288.05"),
    "project.fee_maintenance": Decimal("112.50"),
    "project.fee_data": Decimal("30.00"),
    "project.fee_operation": Decimal("12.00"),
    "project.hw_selfmade": Decimal("12.00"),
    "project.hw_purchased": Decimal("1678.40"),
    "project.sw_purchased": Decimal("117.75"),
    "project.other": Decimal("17.70"),
    "service_total": Decimal("1706.15"),
    "contract_amount": Decimal("3532.00"),
}
THREE_YEAR_TOTAL = Decimal("4602.50")  # 420.50 (2023) + 650.00 (2024) + 3532.00 (2025)
CERTIFIED_PEOPLE = 8  # 9 certificates, 王强 holds two
CERTIFICATES = 9
TECHNICAL_STAFF = 45

# (name, certificate as typed, number, valid until as typed)
HOLDERS: list[tuple[str, str, str, str]] = [
    ("王强", "系统集成项目管理工程师", "2019-0001", "跳过"),
    ("王 强", "高项", "2021-0002", "2027.6.30"),
    ("刘洋", "4", "2020-0003", "跳过"),
    ("陈静", "系统架构", "2022-0004", "2029年12月31日"),
    ("赵磊", "ccie", "CCIE-88123", "跳过"),
    ("孙丽", "HCIP", "HW-2023-5", "2026-05-01"),
    ("周杰", "信息安全工程师", "2023-0007", "跳过"),
    ("吴敏", "IT 服务经理（ITSS）", "ITSS-0008", "2027-01-01"),
    ("郑浩", "系统集成实施工程经理", "SI-0009", "２０２８－０１－０１"),
]

# (year, revenue, software & IT, of which SI, total profit, net profit, taxes, R&D, assets, net)
BUSINESS: list[tuple[int, tuple[str, ...]]] = [
    (2023, ("0", "0", "0", "0", "0", "0", "0", "0", "0")),
    (2024, ("1,234.5", "980", "760.25", "-35.2", "-40", "12", "50", "2,100", "-15.5")),
    (2025, ("45678900元", "３８００", "3500万", "420.5", "360", "88.8", "210", "5600", "3100")),
]

COMPLETION: list[tuple[str, str, str]] = [("5", "420.5", "300"), ("7", "650万", "4000000元")]


def filing_script() -> list[Step]:
    """Every input of the filing, in order, from the first question to the last."""
    steps: list[Step] = [
        # Enterprise
        "  新疆天山智联信息技术有限公司 ",
        Bad("91110108551385082A"),  # check digit wrong
        "9111 0108 5513 8508 2q",
        "乙",
        "XJSI-2025-0088",
        Bad("25"),
        "２０２５年",
        "确认",
        # Contact
        "李娜",
        Bad("1234567"),
        "+86 139-9123-4567",
        "0991 2301105",
        "lina@TSZL.cn",
        "确认",
        # 1.1 Personnel
        "120人",
        "４５",
        "五",
        "30",
        Bad("12"),  # 5 + 30 + 12 = 47 > 45 technical staff
        "10",
        "8",
        "二十",
        "确认",
    ]
    # 1.2 Certificate holders
    for i, (name, cert, number, until) in enumerate(HOLDERS):
        if i:
            steps.append("1")  # add another
        steps.extend([name, cert, number, until])
    steps.extend(["2", "确认"])
    # 2 Business figures, three years for a newly certified enterprise
    for year, values in BUSINESS:
        for j, value in enumerate(values):
            if year == 2025 and j == 2:
                steps.append(Bad("4000"))  # system integration above software & IT revenue
            if year == 2025 and j == 5:
                steps.append(Bad("-3"))  # taxes cannot be negative
            steps.append(value)
    steps.append("确认")
    # 3 Projects
    steps.append("是")
    for i, (name, client, signed, accepted, merged, fees) in enumerate(PROJECTS):
        if i:
            steps.append("1")
        steps.extend([name, client, signed])
        if i == 0:
            steps.append(Bad("2024-12-31"))  # acceptance outside 2025
        steps.extend([accepted, merged, *fees])
    steps.extend(["2", "56.78万元", "确认"])
    # 4 Completion table: 2023 and 2024 typed by a new enterprise, 2025 computed
    for count, contract, service in COMPLETION:
        steps.extend([count, contract, service])
    steps.append("确认")
    # 5 Technical innovation
    steps.extend(
        [
            "是",
            "软件著作权",
            "天山智联运维管理平台 V2.0",
            "2025SR0123456",
            "2025/8/8",
            Upload("软著证书.pdf", pdf_bytes("copyright")),
            "2",
            "确认",
        ]
    )
    # 6 Attachments: licence, three statements, contract files of the ten largest projects
    steps.extend(
        [
            Upload("营业执照.png", png_bytes()),
            Upload("资产负债表.pdf", pdf_bytes("balance")),
            Upload("利润表.pdf", pdf_bytes("income")),
            Upload("现金流量表.pdf", pdf_bytes("cash")),
        ]
    )
    for i, (name, *_rest) in enumerate(PROJECTS):
        if i >= 10:  # projects 11 and 12 are the two smallest: their files are optional
            steps.append("跳过")
        else:
            steps.append(Upload(f"合同{i + 1}.pdf", pdf_bytes(name)))
    steps.append("确认")
    return steps
