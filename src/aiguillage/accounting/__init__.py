"""Usage ledger, budgets, rate limits and the savings report (see docs/operations.md)."""

from aiguillage.accounting.cost import (
    cost_of,
    counterfactual_cost,
    decimal_str,
    largest_deployment,
    worst_case_cost,
)
from aiguillage.accounting.decide import Admission
from aiguillage.accounting.ledger import LedgerSink
from aiguillage.accounting.report import build_report, report_csv, report_json
from aiguillage.accounting.service import Accounting

__all__ = [
    "Accounting",
    "Admission",
    "LedgerSink",
    "build_report",
    "report_json",
    "report_csv",
    "cost_of",
    "counterfactual_cost",
    "largest_deployment",
    "worst_case_cost",
    "decimal_str",
]
