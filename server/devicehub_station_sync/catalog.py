"""The device types this server knows, as stations need them to build usernames and topics."""

from django_devicehub.conf import devicehub_settings
from django_devicehub.registry import registry


def device_types():
    out = []
    for dt_cls, model, _, _ in registry.all_with_models():
        meta = dt_cls.get_meta()
        out.append(
            {
                "name": dt_cls.__name__,
                "app_label": model._meta.app_label,
                "model_name": model.__name__,
                "username_prefix": model._meta.label_lower.replace(".", "-") + "-",
                "topic_prefix": devicehub_settings.TOPIC_PREFIX,
                "topic_template": meta["topic_template"],
            }
        )
    return sorted(out, key=lambda t: t["name"])
