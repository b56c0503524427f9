"""The fleet (issue 17), first slice: each controller publishes to the organisation's MQTT broker.

    events table ──> outbox.OutboxFiller (cursor in the same transaction, pseudonymised)
                       └─> fleet_outbox (store/fleet_outbox.py: kept until the broker's PUBACK)
                             └─> publisher.FleetPublisher (one thread, paho-mqtt, QoS 1)
                                   ├─ <prefix>/<branch>/events     one message per event, id <branch>/<event id>
                                   ├─ <prefix>/<branch>/state      retained; last will "offline"
                                   └─ <prefix>/<branch>/heartbeat

messages.py says what each message holds. Not built yet: commands to the branch, the console,
`fleet simulate --branches`. See README "Fleet (MQTT)".
"""
