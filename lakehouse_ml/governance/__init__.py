"""Governance: principals, securables, Unity Catalog privileges, SQL and policy files.

The engine only (no Dagster): `Metastore(root, env)` is the Python API; `run_sql` the SQL
front end; `apply_policy` the policy-file loader; `audit_log` the audit writer.
"""

from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.governance.principals import (
    GROUP,
    SERVICE_PRINCIPAL,
    USER,
    MembershipCycle,
    UnknownPrincipal,
    current_principal,
)
from lakehouse_ml.governance.privileges import PermissionDenied, Source
from lakehouse_ml.governance.securables import Securable, UnknownSecurable

__all__ = [
    "GROUP", "SERVICE_PRINCIPAL", "USER", "MembershipCycle", "Metastore", "PermissionDenied",
    "Securable", "Source", "UnknownPrincipal", "UnknownSecurable", "current_principal",
]
