"""Every module in this package registers its commands in the command table when imported."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("table", "errors", "args"):
        importlib.import_module(f"{__name__}.{_module.name}")
