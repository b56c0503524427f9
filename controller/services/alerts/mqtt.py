"""The MQTT channel: each alert published at QoS 1 on the configured topic (paho-mqtt).

A connection per alert, closed again: alerts are rare, and a kept-open connection would need
its own thread and reconnect logic for no gain. QoS 1 means the broker acknowledged the
message (PUBACK) before `send` returns; without that within the timeout the alert stays in
the queue and is sent again later (a subscriber may then see it twice: the `id` says so).
"""

from __future__ import annotations

from controller.config.alerts import ChannelName, MqttChannel
from controller.services.alerts.channels import ChannelError
from controller.services.alerts.message import AlertMessage
from controller.services.broker_client import broker_client

QOS = 1


class MqttAlerts:
    name: ChannelName = "mqtt"

    def __init__(self, settings: MqttChannel, door: str) -> None:
        self.settings = settings
        self.topic = settings.topic.replace("{door}", door)
        self.client_id = settings.client_id or f"openplus-door-{door}"

    def send(self, alert: AlertMessage) -> None:
        s = self.settings
        client = broker_client(s, self.client_id)
        client.connect_timeout = s.timeout_seconds
        try:
            client.connect(s.host, s.port, keepalive=max(5, int(s.timeout_seconds) * 2))
        except (OSError, ValueError) as exc:
            raise ChannelError(f"MQTT broker {s.host}:{s.port} not reached: {exc}") from exc
        client.loop_start()
        try:
            info = client.publish(self.topic, alert.json_body(), qos=QOS)
            info.wait_for_publish(timeout=s.timeout_seconds)
            if not info.is_published():
                raise ChannelError(
                    f"MQTT broker {s.host}:{s.port} did not acknowledge the "
                    f"alert within {s.timeout_seconds:g} s (rc {info.rc})"
                )
        except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
            raise ChannelError(f"MQTT publish failed: {exc}") from exc
        finally:
            client.disconnect()
            client.loop_stop()
