"""Alerts: events that need a person (a forced door, a dead reader, the LMS gone...) sent by
email, webhook or MQTT, and listed on the Today page until security acknowledges them.

    events table ──> watch.AlertWatch (thread: rules, quiet periods, rate limit)
                       └─> alerts + alert_deliveries (the persisted queue, store/alerts.py)
                             └─> sender.ChannelSender (a thread per channel, backoff)
                                   └─> AlertChannel: channels.EmailAlerts, WebhookAlerts,
                                       mqtt.MqttAlerts

service.AlertService runs it in the door process; overview.py is what the pages and the API
read and the acknowledgement (audited). See README "Alerts".
"""
