# peewee read as untyped by `make test`'s type check (mypy_path in pyproject.toml). The installed
# peewee-stubs say "a model instance" for every query result, which is wrong for .tuples(),
# .dicts() and .scalar(): every such use would need a cast.
from typing import Any

def __getattr__(name: str) -> Any: ...
