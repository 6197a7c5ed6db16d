"""Reading GRAS products: names, labels (PDS4 and attached PDS3), typed metadata."""

from farside.products.label import ArraySpec
from farside.products.meta import Meta
from farside.products.names import ProductName, parse_name
from farside.products.reader import Product, read

__all__ = ["ArraySpec", "Meta", "Product", "ProductName", "parse_name", "read"]
