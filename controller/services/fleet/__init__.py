"""The fleet (issue 17): each controller publishes to the organisation's MQTT broker and applies
the console's signed commands.

    events table ──> outbox.OutboxFiller (cursor in the same transaction, pseudonymised)
                       └─> fleet_outbox (store/fleet_outbox.py: kept until the broker's PUBACK)
                             └─> publisher.FleetPublisher (one thread, paho-mqtt, QoS 1)
                                   ├─ <prefix>/<branch>/events     one message per event, id <branch>/<event id>,
                                   │                               seq: this branch's outbox sequence
                                   ├─ <prefix>/<branch>/state      retained; last will "offline"
                                   └─ <prefix>/<branch>/heartbeat  acked_seq: all up to it reached the broker

    <prefix>/<branch>/commands ──> subscriber.FleetSubscriber (its own thread, persistent session)
                                     └─> apply_handler.CommandHandler: commands.verify (signature,
                                         branch, expiry, version per kind), apply.CommandApplier
                                         (the branch's use cases), version, audit and ack in one
                                         transaction; the ack leaves through fleet_outbox
                                         (<prefix>/<branch>/acks)

A broker that crashes after its PUBACK loses what it had not saved: the console sees the hole
in the seqs (or below a heartbeat's acked_seq) and sends a signed `resend`, which puts those
outbox rows back to unsent (while kept, [fleet] keep_sent_days); their ids are the same, so
the console stores each once.

messages.py says what each message holds, commands.py the commands' signed format. The
console is fleet_console/, the simulation controller/sim/fleet.py. See README "Fleet (MQTT)".
"""
