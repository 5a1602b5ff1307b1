"""The project's benchmark: subscription fan-out, set-up and idle memory (the README, "Performance").

    python -m bench fanout --connections 1000 --subscriptions-per-connection 1 --submissions 1 --events 50
    python -m bench idle --connections 10000
    python -m bench all --json results.json
    python -m bench all --server all

Each scenario is measured, in the same run, for four variants, each on a
fresh server process: "ours" (/graphql/); "naive" (Strawberry joining a
channel-layer group per subscription, /bench/naive/); "channels" (a bare
Channels consumer per connection forwarding the group messages, no GraphQL,
/bench/channels/); and "raw" (a WebSocket broadcast in the server's memory,
with no channel layer, no GraphQL and no database, /bench/raw/: the limit of
the transport). The baselines are served beside the product by
bench/asgi.py, the application the benchmark's servers run; the product's
own application has none of them. The server is daphne (--server daphne,
the default), uvicorn, granian, or all three. The layer is the embedded
default (--layer embedded), a private Redis with the core and the pub/sub
layer (--layer redis), or all three (--layer all; the default of `all`).
WebSocket clients run in
--client-processes other processes; changes are updateSubmissionStatus
POSTs (for raw, POSTs to /bench/raw/broadcast/) sent every --interval-ms,
with at most --senders in flight (the achieved pace is reported as chg/s).

Beside them, "node" is the Node peer (bench/node_peer/, started by
bench/peer.py): graphql-yoga, graphql-ws and better-sqlite3, as a Node
team would build the product, in a process of its own on a fresh SQLite
file. It is measured once per scenario when `node` and `npm` are on PATH
(its pinned packages installed by `npm ci` on first use), and skipped with
a notice otherwise; every case of ours is reported as a ratio to it.

The idle scenario defaults to 2,000 connections so that `all` stays short;
the target is 10,000 on one process: ask for it with --connections 10000.
"""
