"""A domain package raising at import, as the README's iot example once did: `date` is used
without being imported."""

from lakehouse_ml.medallion.spec import Domain

DOMAIN = Domain(name="undefined_name", description="No date.", start_date=date(2026, 1, 1),  # noqa: F821
                sources=())
