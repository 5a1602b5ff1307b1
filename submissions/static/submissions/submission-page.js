// The live submission page: one submissionStatus subscription (graphql-ws
// client), rendered with textContent only. The first event of every
// (re)subscription is a snapshot, so reconnecting is always correct.
(function () {
  "use strict";

  const root = document.getElementById("submission");
  const submissionId = root.dataset.submissionId;
  const graphqlUrl = new URL(root.dataset.graphqlUrl, window.location.href);
  const wsUrl = graphqlUrl.href.replace(/^http/, "ws");

  const SUBSCRIPTION = `subscription ($id: ID!) {
    submissionStatus(submissionId: $id) {
      version status statusDisplay message
      actions { canEdit canValidate canSubmit canDelete }
      validationSummary {
        animals { total unknown issues }
        samples { total unknown issues }
        messages { kind message offendingColumn count recordNames }
      }
      progress { phase done total }
    }
  }`;

  const $ = (id) => document.getElementById(id);

  function plural(count, one, many) {
    return `${count} ${count === 1 ? one : many}`;
  }

  function describeCounts(counts, one, many) {
    // "12 animals, 3 with issues, 2 waiting to be validated"
    const parts = [plural(counts.total, one, many)];
    if (counts.total > 0) {
      parts.push(`${counts.issues} with issues`);
      parts.push(`${counts.unknown} waiting to be validated`);
    }
    return parts.join(", ");
  }

  function setConnection(state, text) {
    const element = $("connection");
    element.className = `connection connection-${state}`;
    element.textContent = text;
  }

  function renderSummary(summary) {
    $("animals-summary").textContent = describeCounts(summary.animals, "animal", "animals");
    $("samples-summary").textContent = describeCounts(summary.samples, "sample", "samples");
    const table = $("messages");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const group of summary.messages) {
      const row = document.createElement("tr");
      const names = group.recordNames.join(", ") + (group.count > group.recordNames.length ? ", …" : "");
      for (const text of [group.kind.toLowerCase(), group.message, group.offendingColumn || "—", `${group.count}: ${names}`]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
    table.hidden = summary.messages.length === 0;
    $("no-messages").hidden = summary.messages.length > 0;
  }

  function render(event) {
    const status = $("status");
    const changed = status.textContent !== event.statusDisplay;
    status.textContent = event.statusDisplay;
    status.className = `badge status-${event.status.toLowerCase()}`;
    $("version").textContent = event.version;
    if (changed) {
      $("announcer").textContent = `Status changed to ${event.statusDisplay}`;
    }

    const banner = $("message");
    banner.textContent = event.message || "";
    banner.hidden = !event.message;

    for (const button of document.querySelectorAll("[data-action]")) {
      button.disabled = !event.actions[button.dataset.action];
    }
    if (event.validationSummary) {
      renderSummary(event.validationSummary);
    }
    const progress = $("progress");
    if (event.progress) {
      progress.hidden = false;
      $("progress-label").textContent = `${event.progress.phase}: ${event.progress.done} of ${event.progress.total}`;
      $("progress-bar").max = Math.max(event.progress.total, 1);
      $("progress-bar").value = event.progress.done;
    } else {
      progress.hidden = true;
    }
  }

  const client = graphqlWs.createClient({
    url: wsUrl,
    // The session cookie authenticates this page; no token in the browser.
    retryAttempts: Infinity,
    shouldRetry: () => true,
    keepAlive: 20000,
    on: {
      connected: () => setConnection("live", "Live"),
      closed: () => setConnection("reconnecting", "Reconnecting…"),
      error: () => setConnection("reconnecting", "Reconnecting…"),
    },
  });

  client.subscribe(
    { query: SUBSCRIPTION, variables: { id: submissionId } },
    {
      next: (result) => {
        if (result.errors) {
          setConnection("error", result.errors.map((error) => error.message).join("; "));
        } else {
          render(result.data.submissionStatus);
        }
      },
      error: () => setConnection("reconnecting", "Reconnecting…"),
      complete: () => {
        setConnection("ended", "This submission was deleted.");
        for (const button of document.querySelectorAll("[data-action]")) {
          button.disabled = true;
        }
      },
    },
  );

  $("action-delete").addEventListener("click", async () => {
    if (!window.confirm("Delete this submission?")) {
      return;
    }
    const response = await fetch(graphqlUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": Cookies.get("csrftoken") || "" },
      body: JSON.stringify({ query: "mutation ($id: ID!) { deleteSubmission(id: $id) }", variables: { id: submissionId } }),
    });
    const result = await response.json();
    $("action-result").textContent = result.errors ? result.errors[0].message : "Deleted.";
  });
})();
