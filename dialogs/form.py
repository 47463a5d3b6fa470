"""The annual-inspection filing, declared once (DOMAIN.md, sections 0-6).

Field ids are stable: storage, summaries, the PDF, review screens, reminders and tests all
use them. Adding or changing a question is an edit here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from dialogs import catalog, totals
from dialogs.cycle import Cycle, Grade
from dialogs.model import Key, Value
from dialogs.parsing import Option
from dialogs.spec import (
    Check,
    FieldRule,
    FieldSpec,
    FormSpec,
    GroupSpec,
    IndicatorSpec,
    Kind,
    Problem,
    Reading,
    SectionSpec,
)

WAN = "万元"

GRADE_OPTIONS = tuple(Option(g.value, f"{g.value}级") for g in Grade)

INNOVATION_TYPES = tuple(
    Option(value, label)
    for value, label in (
        ("invention_patent", "发明专利"),
        ("utility_patent", "实用新型专利"),
        ("software_copyright", "软件著作权"),
        ("high_tech", "高新技术企业"),
        ("rnd_centre", "研发中心"),
        ("award", "获奖"),
        ("standard", "标准"),
        ("other", "其他"),
    )
)


def _amount(
    field_id: str, label: str, help_text: str = "", *, allow_negative: bool = False
) -> FieldSpec:
    sign = "可以为负数（亏损时在前面加“-”）；" if allow_negative else ""
    return FieldSpec(
        field_id,
        label,
        Kind.AMOUNT,
        unit=WAN,
        example="-35.5" if allow_negative else "1234.56",
        help=help_text or f"单位：万元，保留两位小数；{sign}没有的填 0。也可以写“12345600元”。",
        allow_negative=allow_negative,
    )


def _count(field_id: str, label: str, help_text: str = "") -> FieldSpec:
    return FieldSpec(
        field_id,
        label,
        Kind.COUNT,
        unit="人",
        example="35",
        help=help_text or "填整数人数；没有的填 0。",
    )


def _in_year(what: str) -> FieldRule:
    def rule(view: Reading, key: Key, value: Value) -> str | None:
        if isinstance(value, date) and value.year != view.year:
            return f"{what}必须在 {view.year} 年内，您填写的是 {value.isoformat()}。"
        return None

    return rule


# --- checks: parts never exceed their totals ------------------------------------------------


def _not_above(parts: tuple[str, ...], whole: str, text: str, per_year: bool = False) -> Check:
    def run(view: Reading) -> Iterator[Problem]:
        years = view.business_years if per_year else (0,)
        for year in years:
            keys = [Key(f, "", year) for f in (*parts, whole)]
            if not all(view.filled(k) for k in keys):
                continue
            part_sum = sum((view.num(f, year=year) for f in parts), Decimal(0))
            total = view.num(whole, year=year)
            if part_sum > total:
                prefix = f"{year}年：" if year else ""
                yield Problem(
                    f"{prefix}{text}（{_n(part_sum)}）超过了{view.label(Key(whole))}（{_n(total)}）。",
                    tuple(keys),
                )

    return Check(frozenset((*parts, whole)), run)


def _n(value: Decimal) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value):,}"


def _project_dates(view: Reading) -> Iterator[Problem]:
    for rid in totals.project_records(view):
        signed = view.get("project.contract_date", rid)
        accepted = view.get("project.acceptance_date", rid)
        if isinstance(signed, date) and isinstance(accepted, date) and accepted < signed:
            yield Problem(
                f"{view.describe_record(view.spec.group(totals.PROJECTS), rid)}："
                f"验收日期 {accepted} 早于合同签订日期 {signed}。",
                (Key("project.contract_date", rid), Key("project.acceptance_date", rid)),
            )


def _project_amounts(view: Reading) -> Iterator[Problem]:
    group = view.spec.group(totals.PROJECTS)
    for rid in totals.project_records(view):
        keys = view.record_keys(group, rid)
        if all(view.answered(k) for k in keys) and totals.contract_amount(view, rid) <= 0:
            yield Problem(
                f"{view.describe_record(group, rid)}：合同金额合计为 0，请检查各项费用。",
                (),
            )


def _duplicate_certificates(view: Reading) -> Iterator[Problem]:
    seen: dict[tuple[str, str], str] = {}
    for rid in view.records(totals.HOLDERS):
        name, cert = view.get("holder.name", rid), view.get("holder.certificate", rid)
        if not isinstance(name, str) or not isinstance(cert, str):
            continue
        marker = (totals.person_key(name), cert)
        if marker in seen:
            yield Problem(
                f"{name} 的“{catalog.BY_ID[cert].name}”重复填写了两次，请删除其中一条。",
                (Key("holder.certificate", rid),),
            )
        seen[marker] = rid


def _completion_service(view: Reading) -> Iterator[Problem]:
    for year in view.cycle.window[:2]:
        keys = (Key("completion.service", "", year), Key("completion.contract", "", year))
        if all(view.filled(k) for k in keys):
            service = view.num("completion.service", year=year)
            contract = view.num("completion.contract", year=year)
            if service > contract:
                yield Problem(
                    f"{year}年：服务费总值（{_n(service)}）超过了合同总值（{_n(contract)}）。",
                    keys,
                )


# --- section totals -------------------------------------------------------------------------


def _indicator_line(view: Reading, indicator_id: str) -> tuple[str, str]:
    from dialogs.indicators import evaluate

    result = evaluate(view, view.spec.indicator(indicator_id))
    return (result.spec.label, result.text)


def _holders_totals(view: Reading) -> list[tuple[str, str]]:
    return [
        ("持证人员（不重复计人）", f"{totals.certified_people(view)} 人"),
        ("有效证书", f"{totals.certificate_count(view)} 本"),
        _indicator_line(view, "certified_people"),
    ]


def _personnel_totals(view: Reading) -> list[tuple[str, str]]:
    return [_indicator_line(view, "technical_staff")]


def _project_totals(view: Reading) -> list[tuple[str, str]]:
    col = totals.column_totals(view)
    lines = [("项目数", f"{len(totals.project_records(view))} 个")]
    for fid in (*totals.SERVICE_FEES, *totals.OTHER_COSTS):
        lines.append((f"{view.spec.field(fid).label}合计", f"{col[fid]:,.2f} 万元"))
    lines.append(("软件和信息技术服务费合计", f"{col['service_total']:,.2f} 万元"))
    lines.append(("合同金额合计", f"{col['contract_amount']:,.2f} 万元"))
    return lines


def _completion_totals(view: Reading) -> list[tuple[str, str]]:
    lines = []
    for row in totals.completion_rows(view):
        source = "（由项目汇总自动计算）" if row.computed else ""
        lines.append(
            (
                f"{row.year}年{source}",
                f"{row.count} 个项目，合同总值 {row.contract:,.2f} 万元，"
                f"服务费总值 {row.service:,.2f} 万元",
            )
        )
    # The indicator line carries the three-year total itself.
    lines.append(_indicator_line(view, "three_year_value"))
    return lines


def _innovation_totals(view: Reading) -> list[tuple[str, str]]:
    if view.get("innovation.has_items") is not True:
        return []
    return [("创新成果", f"{len(view.records(totals.INNOVATIONS))} 项")]


def _attachment_totals(view: Reading) -> list[tuple[str, str]]:
    need = totals.largest_projects(view, view.cycle.project_files_required)
    projects = totals.project_records(view)
    if len(projects) > view.cycle.project_files_required:
        return [
            (
                "项目合同文件",
                f"共 {len(projects)} 个项目，必须上传合同金额最大的 {len(need)} 个项目的文件，"
                "其余可选",
            )
        ]
    return []


def _project_file_required(view: Reading, key: Key) -> bool:
    projects = totals.project_records(view)
    limit = view.cycle.project_files_required
    return len(projects) <= limit or key.record in totals.largest_projects(view, limit)


def _describe_project(view: Reading, rid: str) -> str:
    name = view.get("project.name", rid) or "（未填写名称）"
    merged = "（合并填报）" if view.get("project.merged", rid) is True else ""
    return f"{name}{merged}，合同金额 {totals.contract_amount(view, rid):,.2f} 万元"


def _project_record_totals(view: Reading, rid: str) -> list[tuple[str, str]]:
    return [
        ("软件和信息技术服务费合计（自动计算）", f"{totals.service_total(view, rid):,.2f} 万元"),
        ("合同金额（自动计算）", f"{totals.contract_amount(view, rid):,.2f} 万元"),
    ]


def _describe_holder(view: Reading, rid: str) -> str:
    name = view.get("holder.name", rid) or "（未填写姓名）"
    cert = view.get("holder.certificate", rid)
    cert_name = catalog.BY_ID[cert].name if isinstance(cert, str) and cert in catalog.BY_ID else ""
    return f"{name} {cert_name}".strip()


def _describe_innovation(view: Reading, rid: str) -> str:
    kind = view.display(Key("innovation.type", rid))
    return f"{kind}：{view.get('innovation.name', rid) or '（未填写名称）'}"


# --- the form ---------------------------------------------------------------------------------


def build_form(cycle: Cycle) -> FormSpec:
    y = cycle.year
    sections = (
        SectionSpec(
            "enterprise",
            "",
            "企业信息",
            intro="先确认企业的基本登记信息（账号为单位名称汉字全称 + 统一社会信用代码）。",
            items=(
                FieldSpec(
                    "enterprise.name",
                    "单位名称（汉字全称）",
                    Kind.TEXT,
                    example="新疆某某信息技术有限公司",
                    help="与营业执照一致的单位名称汉字全称。",
                    max_len=100,
                ),
                FieldSpec(
                    "enterprise.credit_code",
                    "统一社会信用代码",
                    Kind.CREDIT_CODE,
                    example="91110108551385082Q",
                    help="营业执照上的 18 位代码，最后一位是校验位。",
                ),
                FieldSpec(
                    "enterprise.grade",
                    "资质等级",
                    Kind.CHOICE,
                    options=GRADE_OPTIONS,
                    help="计算机信息系统集成（信息工程）能力评估证书上的等级。",
                ),
                FieldSpec(
                    "enterprise.cert_number",
                    "证书编号",
                    Kind.TEXT,
                    example=f"XJSI-{y}-0123",
                    help="能力评估证书上的编号。",
                    max_len=60,
                ),
                FieldSpec(
                    "enterprise.first_year",
                    "首次获证年份",
                    Kind.YEAR,
                    example=str(y),
                    help=f"{y} 年新获证的企业需要填报近三年（{y - 2}-{y}）的经营和项目数据。",
                ),
            ),
        ),
        SectionSpec(
            "contact",
            "",
            "申报联系人",
            intro="申报联系人是协会审核时联系的人。",
            items=(
                FieldSpec("contact.name", "联系人姓名", Kind.TEXT, example="张三", max_len=40),
                FieldSpec(
                    "contact.mobile",
                    "联系人手机",
                    Kind.MOBILE,
                    example="13800138000",
                    help="中国大陆 11 位手机号。",
                ),
                FieldSpec(
                    "contact.landline",
                    "固定电话",
                    Kind.LANDLINE,
                    required=False,
                    example="0991-2301105",
                    help="可选，带区号。没有请发送“跳过”。",
                ),
                FieldSpec(
                    "contact.email",
                    "电子邮箱",
                    Kind.EMAIL,
                    required=False,
                    example="zhangsan@example.com",
                    help="可选。没有请发送“跳过”。",
                ),
            ),
        ),
        SectionSpec(
            "personnel",
            "1.1",
            "人员情况",
            intro="填写人数（整数）。不包含的人员分类填 0。",
            items=(
                _count("personnel.employees", "职工总数"),
                _count("personnel.technical", "技术人员总数"),
                _count("personnel.postgraduate", "技术人员中研究生及以上学历"),
                _count("personnel.bachelor", "技术人员中本科学历"),
                _count("personnel.college", "技术人员中大专学历"),
                _count("personnel.senior_title", "技术人员中高级职称"),
                _count("personnel.intermediate_title", "技术人员中中级职称"),
            ),
            checks=(
                _not_above(("personnel.technical",), "personnel.employees", "技术人员总数"),
                _not_above(
                    ("personnel.postgraduate", "personnel.bachelor", "personnel.college"),
                    "personnel.technical",
                    "研究生、本科、大专人数合计",
                ),
                _not_above(
                    ("personnel.senior_title", "personnel.intermediate_title"),
                    "personnel.technical",
                    "高级、中级职称人数合计",
                ),
            ),
            totals=_personnel_totals,
            indicators=("technical_staff",),
        ),
        SectionSpec(
            "holders",
            "1.2",
            "管理人员证书",
            intro="逐条添加持证人员。一人持有多本证书时，每本证书添加一条，统计人数时只算一次。",
            items=(
                GroupSpec(
                    totals.HOLDERS,
                    "持证人员",
                    "位",
                    fields=(
                        FieldSpec(
                            "holder.name", "持证人姓名", Kind.TEXT, example="李四", max_len=40
                        ),
                        FieldSpec(
                            "holder.certificate",
                            "证书名称",
                            Kind.CHOICE,
                            options=catalog.OPTIONS,
                            example="网络工程师",
                            help="也可以直接输入证书名称（如“系统架构设计师”“CCIE”）。",
                        ),
                        FieldSpec(
                            "holder.number",
                            "证书编号",
                            Kind.TEXT,
                            example="2021XXXXXXXX",
                            max_len=60,
                        ),
                        FieldSpec(
                            "holder.valid_until",
                            "证书有效期至",
                            Kind.DATE,
                            required=False,
                            example=f"{y + 3}-12-31",
                            help="长期有效的证书请填写“长期”。",
                            date_range=(-10, 50),
                            open_ended=True,
                        ),
                    ),
                    min_records=1,
                    describe=_describe_holder,
                ),
            ),
            checks=(
                Check(frozenset({"holder.name", "holder.certificate"}), _duplicate_certificates),
            ),
            totals=_holders_totals,
            indicators=("certified_people",),
        ),
        SectionSpec(
            "business",
            "2",
            "经营情况",
            intro=(
                f"金额单位：万元。{y} 年新获证企业需补填 {y - 2}、{y - 1} 年数据"
                "（成立未满 3 年的，之前年份填 0）；其他企业只填本年度。"
            ),
            years=lambda view: view.business_years,
            items=(
                _amount("business.revenue", "营业收入"),
                _amount("business.software_it_revenue", "软件和信息技术服务收入"),
                _amount("business.si_revenue", "其中：系统集成收入"),
                _amount("business.total_profit", "利润总额", allow_negative=True),
                _amount("business.net_profit", "净利润", allow_negative=True),
                _amount("business.taxes", "上缴税金"),
                _amount("business.rnd", "研发经费支出"),
                _amount("business.total_assets", "资产总额"),
                _amount("business.net_assets", "净资产", allow_negative=True),
            ),
            checks=(
                _not_above(
                    ("business.software_it_revenue",),
                    "business.revenue",
                    "软件和信息技术服务收入",
                    per_year=True,
                ),
                _not_above(
                    ("business.si_revenue",),
                    "business.software_it_revenue",
                    "系统集成收入",
                    per_year=True,
                ),
                _not_above(
                    ("business.net_assets",), "business.total_assets", "净资产", per_year=True
                ),
            ),
        ),
        SectionSpec(
            "projects",
            "3",
            "系统集成项目汇总",
            intro=(
                f"逐条添加 {y} 年度已完成的系统集成项目（有验收报告或部分回款发票）。"
                "金额单位万元，合同未包含的费用填 0。大型企业可把同类项目合并为一条，"
                "保证总额一致即可。"
            ),
            items=(
                FieldSpec(
                    "projects.has_projects",
                    f"{y} 年度是否有已完成的系统集成项目",
                    Kind.YESNO,
                ),
                GroupSpec(
                    totals.PROJECTS,
                    "项目",
                    "个",
                    fields=(
                        FieldSpec(
                            "project.name", "项目名称", Kind.TEXT, example="某某局信息化建设项目"
                        ),
                        FieldSpec(
                            "project.client", "建设单位（甲方）", Kind.TEXT, example="某某局"
                        ),
                        FieldSpec(
                            "project.contract_date",
                            "合同签订日期",
                            Kind.DATE,
                            example=f"{y - 1}-06-15",
                            date_range=(-20, 0),
                        ),
                        FieldSpec(
                            "project.acceptance_date",
                            "验收日期",
                            Kind.DATE,
                            example=f"{y}-03-01",
                            help=f"必须是 {y} 年内的日期（验收报告或部分回款发票的日期）。",
                            rules=(_in_year("验收日期"),),
                            date_range=(0, 0),
                        ),
                        FieldSpec(
                            "project.merged",
                            "是否为同类项目合并填报",
                            Kind.YESNO,
                            help="大型企业可把同类型项目合并为一条，总额保证与完成项目总值一致。",
                        ),
                        _amount("project.fee_software", "软件开发费"),
                        _amount("project.fee_consulting", "咨询设计费"),
                        _amount("project.fee_integration", "集成实施费"),
                        _amount("project.fee_maintenance", "运行维护费"),
                        _amount("project.fee_data", "数据处理费"),
                        _amount("project.fee_operation", "运营服务费"),
                        _amount("project.hw_selfmade", "自制硬件费"),
                        _amount("project.hw_purchased", "硬件购置费"),
                        _amount("project.sw_purchased", "软件购置费"),
                        _amount("project.other", "其他费用"),
                    ),
                    min_records=1,
                    applies=lambda view: view.get("projects.has_projects") is True,
                    describe=_describe_project,
                    totals=_project_record_totals,
                ),
                _amount(
                    "projects.self_developed_sales",
                    "自主研发产品销售额",
                    "项目汇总表下方的自主研发销售数据，没有填 0。",
                ),
            ),
            checks=(
                Check(
                    frozenset({"project.contract_date", "project.acceptance_date"}), _project_dates
                ),
                Check(
                    frozenset(totals.SERVICE_FEES + totals.OTHER_COSTS),
                    _project_amounts,
                    at_answer=False,
                ),
            ),
            totals=_project_totals,
        ),
        SectionSpec(
            "completion",
            "4",
            "系统集成项目完成情况",
            intro=(
                f"{y} 年数据由项目汇总自动计算。{y - 2}、{y - 1} 年：新获证企业自行填写"
                "（成立未满的年份填 0），其他企业由协会从往年数据导入。"
            ),
            years=lambda view: view.cycle.window[:2],
            items=(
                FieldSpec("completion.count", "完成项目数", Kind.COUNT, unit="个", example="8"),
                _amount("completion.contract", "项目合同总值"),
                _amount("completion.service", "其中软件和信息技术服务费总值"),
            ),
            checks=(
                Check(
                    frozenset({"completion.service", "completion.contract"}), _completion_service
                ),
            ),
            totals=_completion_totals,
            indicators=("three_year_value",),
        ),
        SectionSpec(
            "innovation",
            "5",
            "企业技术创新",
            intro=f"只填 {y} 年度新增的成果，每项需上传对应证书。没有可以不填。",
            items=(
                FieldSpec("innovation.has_items", f"{y} 年度是否有新增的技术创新成果", Kind.YESNO),
                GroupSpec(
                    totals.INNOVATIONS,
                    "创新成果",
                    "项",
                    fields=(
                        FieldSpec("innovation.type", "类型", Kind.CHOICE, options=INNOVATION_TYPES),
                        FieldSpec(
                            "innovation.name", "名称", Kind.TEXT, example="某某管理系统 V1.0"
                        ),
                        FieldSpec(
                            "innovation.number",
                            "证书编号/登记号",
                            Kind.TEXT,
                            example=f"{y}SR012345",
                        ),
                        FieldSpec(
                            "innovation.date",
                            "取得日期",
                            Kind.DATE,
                            example=f"{y}-05-20",
                            rules=(_in_year("取得日期"),),
                            date_range=(0, 0),
                        ),
                        FieldSpec(
                            "innovation.certificate",
                            "证书文件",
                            Kind.FILE,
                            help="上传证书扫描件（PDF、JPG 或 PNG）。",
                        ),
                    ),
                    min_records=1,
                    applies=lambda view: view.get("innovation.has_items") is True,
                    describe=_describe_innovation,
                ),
            ),
            totals=_innovation_totals,
        ),
        SectionSpec(
            "attachments",
            "6",
            "附件",
            intro="上传扫描件，接受 PDF、JPG、PNG（OFD 电子发票也可以）。",
            items=(
                FieldSpec("attach.licence", "营业执照", Kind.FILE),
                FieldSpec("attach.balance_sheet", "资产负债表", Kind.FILE),
                FieldSpec("attach.income_statement", "利润表", Kind.FILE),
                FieldSpec("attach.cash_flow", "现金流量表", Kind.FILE),
                FieldSpec(
                    "attach.project_file",
                    "项目合同文件",
                    Kind.FILE,
                    for_records=totals.PROJECTS,
                    required_when=_project_file_required,
                    help="合同关键页 + 验收报告或部分回款发票，扫描为一个文件。",
                    applies=lambda view: view.get("projects.has_projects") is True,
                ),
            ),
            totals=_attachment_totals,
        ),
    )
    indicators = (
        IndicatorSpec(
            "technical_staff",
            "技术人员总数",
            "人",
            cycle.indicators.technical_staff,
            lambda view: int(view.num("personnel.technical")),
        ),
        IndicatorSpec(
            "certified_people",
            "持证人员总数",
            "人",
            cycle.indicators.certified_people,
            totals.certified_people,
        ),
        IndicatorSpec(
            "three_year_value",
            "三年系统集成项目总值",
            "万元",
            cycle.indicators.three_year_value,
            totals.three_year_total,
        ),
    )
    return FormSpec(cycle, sections, indicators)


def form_of_year(form: FormSpec, year: int) -> FormSpec:
    """The form of another inspection year (labels, windows and checks follow that year), on
    the same calendar and help line: a filing of last year shown while a new cycle is open."""
    if year == form.cycle.year:
        return form
    return build_form(
        Cycle.for_year(year, help_line=form.cycle.help_line, calendar=form.cycle.calendar)
    )
