"""The aggregate, declared in the package's own module."""

from dataclasses import replace

from tests.boundary_domain import HOTTEST

DAILY = replace(HOTTEST, name="mars_days", time_zone="Mars/Olympus_Mons")
