"""Stock is held by items that may still be delivered: checkout takes it, withdrawing an item gives it back,
setting an order back to pending takes it again (refused when it has run out meanwhile)."""

from collections import Counter
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import F

from orders.models import Product


def stock_take(product_ids: Iterable[int]) -> None:
    wanted = Counter(product_ids)
    # Locked in key order so two checkouts never deadlock; checked and taken under the lock.
    for product in Product.objects.select_for_update().filter(pk__in=wanted, stock_control=True).order_by("pk"):
        if product.stock_quantity < wanted[product.pk]:
            raise ValidationError(f"{product.name} is out of stock.")
    for product_id, count in wanted.items():
        Product.objects.filter(pk=product_id, stock_control=True).update(stock_quantity=F("stock_quantity") - count)


def stock_release(product_ids: Iterable[int]) -> None:
    for product_id, count in Counter(product_ids).items():
        Product.objects.filter(pk=product_id, stock_control=True).update(stock_quantity=F("stock_quantity") + count)
