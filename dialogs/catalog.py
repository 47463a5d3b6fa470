"""The certificates accepted for section 1.2 (管理人员证书), as listed by the seed.

The seed numbers its table with a gap (no 22) and one unnumbered row; the catalog is the
names, so ids are stable slugs, never the seed's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialogs.parsing import Option


@dataclass(frozen=True, slots=True)
class Certificate:
    id: str
    name: str
    category: str
    level: str
    aliases: tuple[str, ...] = ()


_RK_MID = "国家软考（中级）"
_RK_HIGH = "国家软考（高级）"
_OTHER = "其他有效证书"
NO_LEVEL = "无"

CERTIFICATES: tuple[Certificate, ...] = (
    Certificate("rk_process_assessor", "软件过程能力评估师", _RK_MID, "中级"),
    Certificate("rk_tester", "软件评测师", _RK_MID, "中级"),
    Certificate("rk_designer", "软件设计师", _RK_MID, "中级"),
    Certificate("rk_network", "网络工程师", _RK_MID, "中级", ("网工",)),
    Certificate("rk_multimedia", "多媒体应用设计师", _RK_MID, "中级"),
    Certificate("rk_embedded", "嵌入式系统设计师", _RK_MID, "中级"),
    Certificate("rk_ecommerce", "电子商务设计师", _RK_MID, "中级"),
    Certificate("rk_cad", "计算机辅助设计师", _RK_MID, "中级"),
    Certificate(
        "rk_si_pm_engineer", "系统集成项目管理工程师", _RK_MID, "中级", ("集成项目管理工程师",)
    ),
    Certificate("rk_security", "信息安全工程师", _RK_MID, "中级"),
    Certificate("rk_supervisor", "信息系统监理师", _RK_MID, "中级", ("监理师",)),
    Certificate("rk_is_management", "信息系统管理工程师", _RK_MID, "中级"),
    Certificate("rk_database", "数据库系统工程师", _RK_MID, "中级"),
    Certificate("rk_hardware", "计算机硬件工程师", _RK_MID, "中级"),
    Certificate("rk_it_support", "信息技术支持工程师", _RK_MID, "中级"),
    Certificate("rk_is_pm", "信息系统项目管理师", _RK_HIGH, "高级", ("高项",)),
    Certificate("rk_analyst", "系统分析师", _RK_HIGH, "高级"),
    Certificate("rk_architect", "系统架构设计师", _RK_HIGH, "高级", ("架构师",)),
    Certificate("rk_network_planner", "网络规划设计师", _RK_HIGH, "高级"),
    Certificate("rk_planning_manager", "系统规划与管理师", _RK_HIGH, "高级"),
    Certificate(
        "si_manager", "系统集成实施工程经理", _OTHER, "无", ("集成实施工程经理", "项目经理")
    ),
    Certificate("it_service_evaluation", "信息技术服务从业人员评价证书", _OTHER, "无"),
    Certificate("ccna", "CCNA 网络支持工程师（Cisco 认证）", _OTHER, "初级", ("CCNA",)),
    Certificate("ccnp", "CCNP 网络高级工程师（Cisco 认证）", _OTHER, "高级", ("CCNP",)),
    Certificate("ccie", "CCIE 互联网专家（Cisco 认证）", _OTHER, "专家级", ("CCIE",)),
    Certificate("hcia", "HCIA 网络工程师（华为认证）", _OTHER, "初级", ("HCIA",)),
    Certificate("hcip", "HCIP 高级网络工程师（华为认证）", _OTHER, "高级", ("HCIP",)),
    Certificate("hcie", "HCIE 专家级网络工程师（华为认证）", _OTHER, "专家级", ("HCIE",)),
    Certificate("mcse", "系统工程师 MCSE（微软认证）", _OTHER, "无", ("MCSE",)),
    Certificate("mcdba", "数据库管理员 MCDBA（微软认证）", _OTHER, "无", ("MCDBA",)),
    Certificate("mcp", "产品专家 MCP（微软认证）", _OTHER, "无", ("MCP",)),
    Certificate("mcsa", "方案开发人员 MCSA（微软认证）", _OTHER, "无", ("MCSA",)),
    Certificate(
        "mcse_internet",
        "Internet 系统工程师 MCSE+Internet（微软认证）",
        _OTHER,
        "无",
        ("MCSE+Internet",),
    ),
    Certificate("oca", "数据库专员进阶 OCA 认证（Oracle 认证）", _OTHER, "无", ("OCA",)),
    Certificate("ocp", "数据库专家 OCP 认证（Oracle 认证）", _OTHER, "无", ("OCP",)),
    Certificate("ocm", "数据库大师 OCM 认证（Oracle 认证）", _OTHER, "无", ("OCM",)),
    Certificate("itss_om_manager", "信息系统运行维护服务经理培训证书", _OTHER, "无"),
    Certificate("itss_engineer", "IT 服务工程师（ITSS）", _OTHER, "无", ("ITSS 服务工程师",)),
    Certificate("itss_manager", "IT 服务经理（ITSS）", _OTHER, "无", ("ITSS 服务经理",)),
)

BY_ID: dict[str, Certificate] = {c.id: c for c in CERTIFICATES}

OPTIONS: tuple[Option, ...] = tuple(Option(c.id, c.name, c.aliases) for c in CERTIFICATES)
