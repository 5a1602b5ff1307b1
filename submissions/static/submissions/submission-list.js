// The list of one's submissions, kept up to date without a reload.
//
// Statuses change in place: one submissionStatus subscription per listed
// submission, all on one WebSocket. A submission created elsewhere (another
// tab, a service) is found by re-reading the list: when the socket
// (re)connects, when the tab comes back into view, and on a light poll that
// starts at POLL_MIN_MS and backs off to POLL_MAX_MS while nothing new turns
// up (or the server cannot be reached). Creations are rare and a list read is
// one small request, so this needs no server state per open page.
(function () {
  "use strict";

  const { request, liveClient } = window.pageGraphql;
  const root = document.getElementById("submission-list");
  const detailUrl = (id) => root.dataset.detailUrl.replace(/0\/$/, `${id}/`);
  const $ = (id) => document.getElementById(id);
  const POLL_MIN_MS = 5000;
  const POLL_MAX_MS = 60000;

  const SUBSCRIPTION = `subscription ($id: ID!) {
    submissionStatus(submissionId: $id) { version status statusDisplay message at }
  }`;
  const LIST = "query { submissions(first: 200) { id title status statusDisplay message updatedAt } }";

  const rows = new Map(); // id -> {row, unsubscribe, version}
  let connected = false;

  function announce(text) {
    $("announcer").textContent = text;
  }

  function setConnection(live) {
    connected = live;
    $("connection").className = `connection connection-${live ? "live" : "reconnecting"}`;
    $("connection-text").textContent = live ? "Live" : "Reconnecting…";
    $("stale").hidden = live;
  }

  function renderRow(entry, view) {
    if (view.version !== undefined) {
      if (entry.version !== undefined && view.version < entry.version) {
        return;
      }
      entry.version = view.version;
    }
    const badge = entry.row.querySelector(".badge");
    const changed = badge.textContent !== view.statusDisplay;
    badge.textContent = view.statusDisplay;
    badge.className = `badge status-${view.status.toLowerCase()}`;
    entry.row.querySelector(".message").textContent = view.message || "—";
    window.pageTimes.showTime(entry.row.querySelector("time"), view.at || view.updatedAt);
    if (changed) {
      const title = entry.row.querySelector("a").textContent;
      announce(`${title}: status changed to ${view.statusDisplay}${view.message ? `: ${view.message}` : ""}`);
    }
  }

  function removeRow(id) {
    const entry = rows.get(id);
    if (entry) {
      entry.unsubscribe();
      entry.row.remove();
      rows.delete(id);
      showEmpty();
    }
  }

  function showEmpty() {
    $("empty").hidden = rows.size > 0;
    $("submissions").hidden = rows.size === 0;
  }

  function follow(id, row) {
    const entry = { row, version: undefined, unsubscribe: () => {} };
    rows.set(id, entry);
    entry.unsubscribe = client.subscribe(
      { query: SUBSCRIPTION, variables: { id } },
      {
        next: (result) => {
          if (result.errors) {
            removeRow(id); // deleted (or no longer one's own) while away
            return;
          }
          setConnection(true);
          renderRow(entry, result.data.submissionStatus);
          poll.soon();
        },
        error: () => setConnection(false),
        complete: () => removeRow(id), // the server completes it when the submission is deleted
      },
    );
  }

  function newRow(submission) {
    const row = document.createElement("tr");
    row.dataset.submissionId = submission.id;
    const cells = ["Title", "Status", "Latest message", "Last change"].map((heading) => {
      const cell = document.createElement("td");
      cell.dataset.heading = heading;
      row.appendChild(cell);
      return cell;
    });
    const link = document.createElement("a");
    link.href = detailUrl(submission.id);
    link.textContent = submission.title;
    cells[0].appendChild(link);
    const badge = document.createElement("span");
    badge.className = "badge";
    cells[1].appendChild(badge);
    cells[2].className = "message";
    cells[3].appendChild(document.createElement("time"));
    return row;
  }

  // Re-reads the list; adds what is new (newest first, as the server orders them).
  async function refresh() {
    const { submissions } = await request(root, LIST, {});
    const body = $("submissions").querySelector("tbody");
    let added = 0;
    let before = body.firstChild;
    for (const submission of submissions) {
      const known = rows.get(submission.id);
      if (known) {
        before = known.row.nextSibling;
        continue;
      }
      const row = newRow(submission);
      body.insertBefore(row, before);
      before = row.nextSibling;
      rows.set(submission.id, { row, version: undefined });
      renderRow(rows.get(submission.id), submission);
      follow(submission.id, row);
      announce(`New submission: ${submission.title}`);
      added += 1;
    }
    showEmpty();
    return added;
  }

  const poll = {
    delayMs: POLL_MIN_MS,
    timer: null,
    schedule() {
      clearTimeout(this.timer);
      if (document.visibilityState === "visible") {
        this.timer = setTimeout(() => this.run(), this.delayMs);
      }
    },
    async run() {
      let added = 0;
      try {
        added = await refresh();
      } catch (error) {
        added = 0; // unreachable for now: back off like an idle poll
      }
      this.delayMs = added ? POLL_MIN_MS : Math.min(this.delayMs * 2, POLL_MAX_MS);
      this.schedule();
    },
    // Activity makes another creation likelier: poll at the quick pace again.
    soon() {
      if (this.delayMs !== POLL_MIN_MS) {
        this.delayMs = POLL_MIN_MS;
        this.schedule();
      }
    },
  };

  const client = liveClient(root, {
    connected: () => poll.run(),
    // With nothing left to follow the socket closes by design: not a loss.
    closed: () => setConnection(rows.size === 0),
    error: () => setConnection(false),
  });

  for (const row of $("submissions").querySelectorAll("tbody tr")) {
    follow(row.dataset.submissionId, row);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      poll.delayMs = POLL_MIN_MS;
      poll.run();
    } else {
      clearTimeout(poll.timer);
    }
  });
  // The socket is lazy: with nothing to follow yet, open it for the
  // re-reads on (re)connection, and poll.
  if (rows.size === 0) {
    setConnection(true);
    poll.schedule();
  }
})();
