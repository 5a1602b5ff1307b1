"""Live delivery: from a committed change to every subscriber's socket.

    submissions.services  save -> transaction.on_commit -> channel layer group_send("submission.<id>")
    live.listener         one channel per process: receive -> put in version order -> each group of the submission
    live.groups           one group per (submission, document, variables): execute once, encode once,
                          write to each member that is caught up; a laggard catches up from the group's
                          history, or from a snapshot (live.snapshots)
    live.connection       one WebSocket, either protocol (live.protocol): frames in (live.frames, budgets),
                          results out through flow control (live.flow) -> ASGI send -> the socket

A subscription starts on the same path backwards: the client's `subscribe`
runs through Strawberry's public `schema.stream`, whose resolver hands the
subscription over to its group; the group joins the channel-layer group,
reads the snapshot, sends it, and from then on the member gets each change.
The domain (submissions) knows nothing of this package.
"""
