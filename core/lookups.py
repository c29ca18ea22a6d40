"""`id__any=[...]`: an id list as one parameter.

`pk__in=ids` writes one placeholder per id; with a batch of hundreds of ids in every statement of the automation
run, building, splitting and quoting those placeholders cost more Python time than PostgreSQL spent running the
statements (docs/PERFORMANCE.md). `__any` sends the ids as one array literal on PostgreSQL (`= ANY('{1,2}'::
bigint[])`) and is an ordinary IN list elsewhere. For integer columns: primary keys and foreign keys.
"""

from django.db import models
from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, "{" + ",".join(map(str, ids)) + "}"]
        if not ids:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]


def register() -> None:
    for field in (models.AutoField, models.BigAutoField, models.IntegerField, models.BigIntegerField):
        field.register_lookup(AnyOf)
    models.ForeignKey.register_lookup(AnyOf)
