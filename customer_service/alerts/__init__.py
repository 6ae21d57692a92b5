"""Alerts: events raised by the pipeline, the desktop side and beat checks, sent to e-mail and group robots.

``services.alert_raise`` / ``services.alert_resolve`` are what other parts call; ``tasks`` deliver on
Celery with retry and backoff; ``transports`` speak each channel's format (e-mail, WeCom, DingTalk,
Feishu).
"""
