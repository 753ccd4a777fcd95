"""Compatibility shim for django-devicehub 0.2.1 with djangorestframework >= 3.14.

The defect
----------
``django_devicehub.generators.views.create_viewsets`` defines the device
viewset's readings action as a function named ``get_readings`` but attaches it
to the generated ViewSet class under the attribute ``readings``. Since DRF 3.14,
``ViewSetMixin.get_extra_actions()`` asserts that an action's ``__name__`` equals
its attribute name, so ``get_iot_urlpatterns()`` raises::

    AssertionError: Expected function (`get_readings`) to match its attribute
    name (`readings`). ...

while the URLconf is imported, and every request and every ``manage.py``
command (they run the URL system checks) fails with it.

A second, silent consequence (on every DRF version): @action records the HTTP
method mapping by function name, ``{"get": "get_readings"}``, and the router
drops any route whose mapped method the viewset lacks, so even where the
assertion does not fire, ``GET .../devices/<pk>/readings/`` is never mounted.

The workaround
--------------
``get_iot_urlpatterns()`` below calls the package's own ``get_iot_urlpatterns()``
unchanged, but while it runs, ``create_viewsets`` is wrapped so that each
generated ViewSet gets its action functions renamed to their attribute names,
together with what DRF derived from the old name (the method ``mapping``,
``url_name`` and the display ``name``): exactly what the package would produce
had it named the function ``readings``. The URL path was set explicitly
(``url_path="readings"``) and does not change. Nothing in site-packages is
edited, and nothing stays patched after the call. Once the package is fixed,
the renaming finds nothing to do.

Route names produced (per type, e.g. ``weatherstation``):
``weatherstation-device-list``, ``-detail``, ``-readings``, ``-provision``,
``weatherstation-reading-list``, ``-detail``.
"""

from django.forms.utils import pretty_name

__all__ = ["get_iot_urlpatterns", "fix_action_names"]


def fix_action_names(viewset_cls):
    """Rename DRF @action functions on ``viewset_cls`` to their attribute names.

    Returns the list of attribute names that were renamed.
    """
    renamed = []
    for attr, func in list(vars(viewset_cls).items()):
        # DRF's @action marks functions with `mapping` and `detail`.
        if not (callable(func) and hasattr(func, "mapping") and hasattr(func, "detail")):
            continue
        old = func.__name__
        if old == attr:
            continue
        func.__name__ = attr
        func.__qualname__ = f"{viewset_cls.__qualname__}.{attr}"
        # @action derived these from the old function name; follow the rename.
        if getattr(func, "url_name", None) == old.replace("_", "-"):
            func.url_name = attr.replace("_", "-")
        kwargs = getattr(func, "kwargs", None)
        if isinstance(kwargs, dict) and kwargs.get("name") == pretty_name(old):
            kwargs["name"] = pretty_name(attr)
        # @action's MethodMapper maps each HTTP method to the *function name*
        # ({"get": "get_readings"}); the router drops a route whose mapped
        # method the viewset lacks, so point it at the attribute.
        for method, target in list(func.mapping.items()):
            if target == old:
                func.mapping[method] = attr
        renamed.append(attr)
    return renamed


def get_iot_urlpatterns(prefix="things"):
    """Drop-in for ``django_devicehub.generators.urls.get_iot_urlpatterns``."""
    from django_devicehub.generators import urls as dh_urls
    from django_devicehub.generators import views as dh_views

    original = dh_views.create_viewsets

    def create_viewsets(device_type_cls):
        device_viewset, reading_viewset = original(device_type_cls)
        for viewset in (device_viewset, reading_viewset):
            if viewset is not None:
                fix_action_names(viewset)
        return device_viewset, reading_viewset

    # get_iot_urlpatterns() does `from .views import create_viewsets` at call
    # time, so swapping the module attribute for the duration of the call is
    # enough, and is undone right after.
    dh_views.create_viewsets = create_viewsets
    try:
        return dh_urls.get_iot_urlpatterns(prefix)
    finally:
        dh_views.create_viewsets = original
