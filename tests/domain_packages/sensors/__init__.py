"""A domain without models, declared as a user would: the boundary tests' `sensors`."""

from tests.boundary_domain import SENSORS as DOMAIN

__all__ = ["DOMAIN"]
