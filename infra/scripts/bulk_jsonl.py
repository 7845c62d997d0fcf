#!/usr/bin/env python3
"""Writes a Shopify bulk-export JSONL of N orders (groupObjects: true: each order line, then its
line items with __parentId) to stdout, for `aftersale import shopify --jsonl FILE` benchmarks.

    python3 infra/scripts/bulk_jsonl.py 100000 > /tmp/orders-100k.jsonl

N orders by N/3 customers over the last two years, two line items each, delivered.
"""
import json
import sys
from datetime import datetime, timedelta, timezone


def at(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    n = int(sys.argv[1])
    customers = max(n // 3, 1)
    now = datetime.now(timezone.utc)
    out = sys.stdout
    for i in range(n):
        created = now - timedelta(hours=(n - i) * 17520 / n + 24)
        delivered = created + timedelta(days=2)
        order, customer = 10_000 + i, i % customers + 1
        money = lambda amount: {"shopMoney": {"amount": amount, "currencyCode": "EUR"}}
        line = {
            "id": f"gid://shopify/Order/{order}", "name": f"#{order}", "email": f"c{customer}@example.com",
            "phone": None, "createdAt": at(created), "updatedAt": at(created + timedelta(hours=30)),
            "cancelledAt": None, "currencyCode": "EUR", "displayFinancialStatus": "PAID",
            "displayFulfillmentStatus": "FULFILLED", "customerLocale": "en", "clientIp": None,
            "discountCodes": [], "totalPriceSet": money("42.00"), "subtotalPriceSet": money("42.00"),
            "totalDiscountsSet": money("0.00"),
            "shippingAddress": {"address1": "Via Roma 1", "address2": None, "city": "Milano", "zip": "20100",
                                "countryCodeV2": "IT"},
            "billingAddress": {"countryCodeV2": "IT"},
            "customer": {"id": f"gid://shopify/Customer/{customer}", "firstName": "Cliente", "lastName": "Prova",
                         "locale": "en", "updatedAt": at(created),
                         "defaultEmailAddress": {"emailAddress": f"c{customer}@example.com",
                                                 "marketingState": "SUBSCRIBED"},
                         "defaultPhoneNumber": None},
            "refunds": [],
            "fulfillments": [{"id": f"gid://shopify/Fulfillment/{order}", "displayStatus": "DELIVERED",
                              "createdAt": at(created + timedelta(days=1)), "updatedAt": at(delivered),
                              "deliveredAt": at(delivered),
                              "trackingInfo": [{"number": f"TRK{order}", "url": None, "company": "DHL"}]}],
        }
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        for k, (product, price) in enumerate([(11, "30.00"), (21, "12.00")]):
            item = {"id": f"gid://shopify/LineItem/{order}{k}", "quantity": 1, "sku": f"SKU-{product}",
                    "title": f"Product {product}", "name": f"Product {product}",
                    "product": {"id": f"gid://shopify/Product/{product}"},
                    "variant": {"id": f"gid://shopify/ProductVariant/{product}0"},
                    "originalUnitPriceSet": money(price), "__parentId": f"gid://shopify/Order/{order}"}
            out.write(json.dumps(item, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
