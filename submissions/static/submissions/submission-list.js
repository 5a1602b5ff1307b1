// The list of one's submissions, kept up to date without a reload.
//
// Statuses change in place: one submissionStatus subscription per listed
// submission, all on one WebSocket, for the newest ones up to the number of
// operations the server lets one connection run (data-live-limit); the rest,
// and any the server refuses, are marked "Not live". A submission created elsewhere (another
// tab, a service) is found by re-reading the list: when the socket
// (re)connects, when the tab comes back into view, and on a light poll that
// starts at POLL_MIN_MS and backs off to POLL_MAX_MS while nothing new turns
// up (or the server cannot be reached). Creations are rare and a list read is
// one small request, so this needs no server state per open page.
(function () {
  "use strict";

  const { request, liveClient, isSignedOut, isOperationError, showSignedOut } = window.pageGraphql;
  const root = document.getElementById("submission-list");
  const detailUrl = (id) => root.dataset.detailUrl.replace(/0\/$/, `${id}/`);
  const $ = (id) => document.getElementById(id);
  const POLL_MIN_MS = 5000;
  const POLL_MAX_MS = 60000;
  const LIVE_LIMIT = Number(root.dataset.liveLimit);

  const SUBSCRIPTION = `subscription ($id: ID!) {
    submissionStatus(submissionId: $id) { version status statusDisplay message at }
  }`;
  const LIST = "query { submissions(first: 200) { id title status statusDisplay message updatedAt } }";

  // id -> {row, version, subscription: {unsubscribe} while followed, refused}
  const rows = new Map();
  let signedOut = false;

  function announce(text) {
    $("announcer").textContent = text;
  }

  function setConnection(live) {
    if (signedOut) {
      return; // final: nothing reconnects
    }
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
      unfollow(entry);
      entry.row.remove();
      rows.delete(id);
      showEmpty();
      followNewest(); // a place to follow is free
    }
  }

  function showEmpty() {
    $("empty").hidden = rows.size > 0;
    $("submissions").hidden = rows.size === 0;
  }

  function following() {
    return [...rows.values()].filter((entry) => entry.subscription).length;
  }

  function markLive(entry, live) {
    entry.row.classList.toggle("not-live", !live);
    let mark = entry.row.querySelector(".not-live-mark");
    if (!mark) {
      mark = document.createElement("span");
      mark.className = "not-live-mark";
      mark.textContent = "Not live";
      entry.row.querySelector(".badge").after(" ", mark);
    }
    mark.hidden = live;
    $("not-live-note").hidden = !document.querySelector("tr.not-live");
  }

  function follow(id, entry) {
    const subscription = { unsubscribe: () => {} };
    entry.subscription = subscription;
    markLive(entry, true);
    // A sink outlives an unfollow: it acts only while its subscription is the row's.
    const current = () => entry.subscription === subscription;
    subscription.unsubscribe = client.subscribe(
      { query: SUBSCRIPTION, variables: { id } },
      {
        next: (result) => {
          if (!current()) {
            return;
          }
          if (result.errors) {
            removeRow(id); // deleted (or no longer one's own) while away
            return;
          }
          setConnection(true);
          renderRow(entry, result.data.submissionStatus);
          poll.soon();
        },
        error: (error) => {
          if (!current()) {
            return;
          }
          if (isOperationError(error)) {
            // The server refused this one (say, its limit per connection):
            // this row is not live; the socket and the other rows are fine.
            entry.subscription = null;
            entry.refused = true;
            markLive(entry, false);
          } else {
            lostConnection(error);
          }
        },
        // The server completes it when the submission is deleted (disposing
        // of the client on signing out completes it too).
        complete: () => current() && !signedOut && removeRow(id),
      },
    );
  }

  function unfollow(entry) {
    const subscription = entry.subscription;
    entry.subscription = null;
    if (subscription) {
      subscription.unsubscribe();
    }
  }

  // Follows the newest rows (the list's order), as many as the limit allows;
  // the others show their last known status, marked as not live.
  function followNewest() {
    if (signedOut) {
      return;
    }
    let places = LIVE_LIMIT;
    for (const row of $("submissions").querySelectorAll("tbody tr")) {
      const id = row.dataset.submissionId;
      const entry = rows.get(id);
      if (places > 0 && !entry.refused) {
        places -= 1;
        if (!entry.subscription) {
          follow(id, entry);
        }
      } else {
        unfollow(entry);
        markLive(entry, false);
      }
    }
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
      rows.set(submission.id, { row, version: undefined, subscription: null, refused: false });
      renderRow(rows.get(submission.id), submission);
      announce(`New submission: ${submission.title}`);
      added += 1;
    }
    showEmpty();
    if (added) {
      followNewest();
    }
    return added;
  }

  const poll = {
    delayMs: POLL_MIN_MS,
    timer: null,
    schedule() {
      clearTimeout(this.timer);
      if (document.visibilityState === "visible" && !signedOut) {
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

  // Closed for good when the session has ended (the client retries no more).
  function lostConnection(closeEvent) {
    if (isSignedOut(closeEvent)) {
      setConnection(false);
      signedOut = true;
      clearTimeout(poll.timer);
      client.dispose(); // nothing to retry (the client would not, either)
      $("connection-text").textContent = "Signed out";
      $("stale").hidden = true; // the signed-out note says more
      showSignedOut();
    } else {
      setConnection(false);
    }
  }

  const client = liveClient(root, {
    connected: () => poll.run(),
    closed: (event) => {
      if (following() === 0 && !isSignedOut(event)) {
        setConnection(true); // with nothing left to follow the socket closes by design: not a loss
      } else {
        lostConnection(event);
      }
    },
    error: lostConnection,
  });

  for (const row of $("submissions").querySelectorAll("tbody tr")) {
    rows.set(row.dataset.submissionId, { row, version: undefined, subscription: null, refused: false });
  }
  followNewest();
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
  if (following() === 0) {
    setConnection(true);
    poll.schedule();
  }
})();
