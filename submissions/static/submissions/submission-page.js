// The live submission page: one submissionStatus subscription, the owner's
// requests (Validate, Submit, Edit a record, Delete), rendered with
// textContent only. The first event of every (re)subscription is a snapshot,
// so the page is right again after every reconnect; until that snapshot
// arrives, what it shows is marked stale and its actions are paused.
(function () {
  "use strict";

  const { request, liveClient, errorCode, isSignedOut, showSignedOut } = window.pageGraphql;
  const root = document.getElementById("submission");
  const submissionId = root.dataset.submissionId;
  const guide = JSON.parse(root.dataset.guide);
  const $ = (id) => document.getElementById(id);

  const SUBMISSION_FIELDS = `version status statusDisplay message
    actions { canEdit canValidate canSubmit canDelete }`;
  const SUBSCRIPTION = `subscription ($id: ID!) {
    submissionStatus(submissionId: $id) {
      ${SUBMISSION_FIELDS} at
      validationSummary {
        animals { total unknown issues }
        samples { total unknown issues }
        messages { kind message offendingColumn count recordNames }
      }
      progress { phase done total }
    }
  }`;
  const REQUESTS = {
    canValidate: {
      query: `mutation ($id: ID!) { requestValidation(submissionId: $id) { ${SUBMISSION_FIELDS} at: updatedAt } }`,
      field: "requestValidation",
      done: "Validation requested. Progress and messages appear here as they arrive.",
    },
    canSubmit: {
      query: `mutation ($id: ID!) { requestSubmission(submissionId: $id) { ${SUBMISSION_FIELDS} at: updatedAt } }`,
      field: "requestSubmission",
      done: "Submission requested. The status changes to Completed once the archive accepts it.",
    },
  };
  const RECORDS = `query ($id: ID!, $withIssues: Boolean!) {
    submission(id: $id) {
      records(withIssues: $withIssues, first: 100) {
        kind name attributes validation { outcome messages { message offendingColumn } }
      }
    }
  }`;
  const UPDATE_RECORD = `mutation ($input: UpdateRecordInput!) { updateRecord(input: $input) { kind name attributes } }`;
  const DELETE = "mutation ($id: ID!) { deleteSubmission(id: $id) }";
  // What an available action does, read out with the button.
  const WHAT_IT_DOES = {
    canEdit: "Opens the records with issues so you can fix them.",
    canValidate: "Checks every record against the rules.",
    canSubmit: "Sends the records to the archive.",
    canDelete: "Asks you to confirm first.",
  };
  const WORK_IN_PROGRESS = new Set(["WAITING", "SUBMITTED"]);

  // `connection`: connecting, live, reconnecting, error, signed-out or deleted.
  const state = {
    connection: "connecting",
    current: null, // the latest event or request result applied
    shown: { status: $("status").textContent, message: $("message-text").textContent },
    inFlight: new Set(),
    progress: null,
  };

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

  function element(tag, text, attributes) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    for (const [name, value] of Object.entries(attributes || {})) {
      node.setAttribute(name, value);
    }
    return node;
  }

  // --- the connection, and the stale mark while it is not live

  function setConnection(connection, text) {
    if (state.connection === "deleted" || state.connection === "signed-out") {
      return; // final: the socket closing afterwards changes nothing
    }
    state.connection = connection;
    $("connection").className = `connection connection-${connection}`;
    $("connection-text").textContent = text;
    const stale = connection !== "live" && state.current !== null;
    $("stale").hidden = !stale || connection === "signed-out"; // that note says more
    $("live-data").classList.toggle("stale", stale);
    renderActions();
  }

  // --- the status, its meaning and the announcements

  function announce(text) {
    $("announcer").textContent = text;
  }

  function renderStatus(view) {
    const status = $("status");
    status.textContent = view.statusDisplay;
    status.className = `badge status-${view.status.toLowerCase()}`;
    const meaning = guide.statuses[view.status];
    $("meaning").textContent = meaning.meaning;
    $("next-step-text").textContent = meaning.next;
    $("message-text").textContent = view.message || "";
    $("message").hidden = !view.message;
    if (view.at) {
      window.pageTimes.showTime($("updated"), view.at);
    }

    const message = view.message || "";
    const because = message ? `: ${message}` : "";
    if (view.statusDisplay !== state.shown.status) {
      announce(`Status changed to ${view.statusDisplay}${because}`);
    } else if (message !== state.shown.message && message) {
      announce(`New message${because}`);
    }
    state.shown = { status: view.statusDisplay, message };
  }

  function renderSummary(summary) {
    $("animals-summary").textContent = describeCounts(summary.animals, "animal", "animals");
    $("samples-summary").textContent = describeCounts(summary.samples, "sample", "samples");
    const table = $("messages");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const group of summary.messages) {
      const row = element("tr");
      const names = group.recordNames.join(", ") + (group.count > group.recordNames.length ? ", …" : "");
      const cells = [
        ["Kind", group.kind.toLowerCase()],
        ["Message", group.message],
        ["Column", group.offendingColumn || "—"],
        ["Records", `${group.count}: ${names}`],
      ];
      for (const [heading, text] of cells) {
        row.appendChild(element("td", text, { "data-heading": heading }));
      }
      body.appendChild(row);
    }
    table.hidden = summary.messages.length === 0;
    $("no-messages").hidden = summary.messages.length > 0;
  }

  function renderProgress(view) {
    // A progress report comes between the results of a long piece of work:
    // the bar stays while that work is in progress, and goes when it is done.
    if (view.progress) {
      state.progress = view.progress;
    } else if (!WORK_IN_PROGRESS.has(view.status)) {
      state.progress = null;
    }
    const progress = state.progress;
    $("progress").hidden = progress === null;
    if (progress) {
      $("progress-label").textContent = `${progress.phase}: ${progress.done} of ${progress.total}`;
      $("progress-bar").max = Math.max(progress.total, 1);
      $("progress-bar").value = progress.done;
    }
  }

  function apply(view) {
    // Versions only grow: a request's answer and the event of the same
    // change may arrive in either order, and the older is dropped.
    if (state.current && view.version < state.current.version) {
      return;
    }
    state.current = view;
    renderStatus(view);
    if (view.validationSummary) {
      renderSummary(view.validationSummary);
    }
    renderProgress(view);
    renderActions();
  }

  // --- actions: available, or unavailable with the reason beside them

  function unavailableBecause(action) {
    if (state.connection === "connecting") {
      return "Waiting for the page to connect.";
    }
    if (state.connection === "signed-out") {
      return "Sign in again to use this.";
    }
    if (state.connection !== "live") {
      return "Paused while the page reconnects.";
    }
    if (state.inFlight.has(action)) {
      return "Sending the request…";
    }
    if (!state.current.actions[action]) {
      const reasons = guide.unavailable[action];
      return reasons[state.current.status] || reasons.otherwise || "Not available in this status.";
    }
    return null;
  }

  function setAvailable(button, available) {
    if (available) {
      button.removeAttribute("aria-disabled");
    } else {
      button.setAttribute("aria-disabled", "true");
    }
  }

  function renderActions() {
    for (const button of document.querySelectorAll("[data-action]")) {
      const action = button.dataset.action;
      const reason = unavailableBecause(action);
      setAvailable(button, reason === null);
      $(button.getAttribute("aria-describedby")).textContent = reason === null ? WHAT_IT_DOES[action] : reason;
    }
    const editing = unavailableBecause("canEdit") === null || state.inFlight.has("canEdit");
    for (const button of document.querySelectorAll(".save-record")) {
      setAvailable(button, editing && !button.form.dataset.saving);
    }
    if (unavailableBecause("canDelete") !== null && !state.inFlight.has("canDelete")) {
      $("delete-confirm").hidden = true;
    }
  }

  function isAvailable(button) {
    return button.getAttribute("aria-disabled") !== "true";
  }

  function showOutcome(error, done) {
    $("action-error").textContent = error ? error.message : "";
    $("action-result").textContent = error ? "" : done;
  }

  // Runs `work` with `action` marked in flight (its button unavailable, the
  // reason saying so); shows the server's message if it is refused.
  async function inFlight(action, work) {
    state.inFlight.add(action);
    showOutcome(null, "");
    renderActions();
    try {
      return await work();
    } catch (error) {
      showOutcome(error);
      return undefined;
    } finally {
      state.inFlight.delete(action);
      renderActions();
    }
  }

  for (const [action, { query, field, done }] of Object.entries(REQUESTS)) {
    document.querySelector(`[data-action="${action}"]`).addEventListener("click", async (event) => {
      if (!isAvailable(event.currentTarget)) {
        return;
      }
      await inFlight(action, async () => {
        const data = await request(root, query, { id: submissionId });
        apply(data[field]);
        showOutcome(null, done);
      });
    });
  }

  // --- Edit: the records with issues, each with its messages and a form

  function attributeValue(original, text) {
    if (typeof original === "number" && text.trim() !== "" && !Number.isNaN(Number(text))) {
      return Number(text);
    }
    return text;
  }

  function recordForm(record, index) {
    const form = element("form", null, { class: "record", "data-kind": record.kind, "data-name": record.name });
    const fieldset = element("fieldset");
    fieldset.appendChild(element("legend", `${record.kind === "ANIMAL" ? "Animal" : "Sample"} ${record.name}`));
    const messages = record.validation ? record.validation.messages : [];
    const messageIds = {};
    if (messages.length) {
      const list = element("ul", null, { class: "record-messages" });
      messages.forEach((message, n) => {
        const id = `record-${index}-message-${n}`;
        const column = message.offendingColumn ? ` (column ${message.offendingColumn})` : "";
        list.appendChild(element("li", `${message.message}${column}`, { id }));
        if (message.offendingColumn) {
          messageIds[message.offendingColumn] = [...(messageIds[message.offendingColumn] || []), id];
        }
      });
      fieldset.appendChild(list);
    }
    // The offending columns first (a missing one too, so it can be added), then the rest.
    const names = [...new Set([...Object.keys(messageIds), ...Object.keys(record.attributes || {})])];
    names.forEach((name, n) => {
      const id = `record-${index}-field-${n}`;
      const row = element("p", null, { class: "field" });
      row.appendChild(element("label", name, { for: id }));
      const value = (record.attributes || {})[name];
      const input = element("input", null, { id, name, type: "text", autocomplete: "off" });
      input.value = value === undefined || value === null ? "" : String(value);
      input.dataset.original = JSON.stringify(value === undefined ? null : value);
      if (messageIds[name]) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", messageIds[name].join(" "));
      }
      row.appendChild(input);
      fieldset.appendChild(row);
    });
    fieldset.appendChild(element("p", "An empty field removes that attribute.", { class: "hint" }));
    const save = element("button", `Save ${record.name}`, { type: "submit", class: "save-record" });
    fieldset.appendChild(save);
    fieldset.appendChild(element("p", "", { class: "record-error", role: "alert" }));
    fieldset.appendChild(element("p", "", { class: "record-result", role: "status" }));
    form.appendChild(fieldset);
    form.addEventListener("submit", (event) => saveRecord(event, form));
    return form;
  }

  async function saveRecord(event, form) {
    event.preventDefault();
    const button = form.querySelector(".save-record");
    if (!isAvailable(button) || form.dataset.saving) {
      return;
    }
    const attributes = {};
    for (const input of form.querySelectorAll("input")) {
      if (input.value.trim() !== "") {
        attributes[input.name] = attributeValue(JSON.parse(input.dataset.original), input.value);
      }
    }
    form.dataset.saving = "true";
    form.querySelector(".record-error").textContent = "";
    form.querySelector(".record-result").textContent = "Saving…";
    renderActions();
    try {
      const input = { submissionId, kind: form.dataset.kind, name: form.dataset.name, attributes };
      await request(root, UPDATE_RECORD, { input });
      for (const field of form.querySelectorAll("input")) {
        field.removeAttribute("aria-invalid");
        field.dataset.original = JSON.stringify(attributes[field.name] ?? null);
      }
      form.classList.add("saved");
      form.querySelector(".record-result").textContent =
        "Saved. Its earlier validation result is cleared: validate again to check it.";
    } catch (error) {
      form.querySelector(".record-result").textContent = "";
      form.querySelector(".record-error").textContent = error.message;
    } finally {
      delete form.dataset.saving;
      renderActions();
    }
  }

  async function openEditor() {
    const data = await request(root, RECORDS, { id: submissionId, withIssues: true });
    let records = data.submission.records;
    let intro = `${plural(records.length, "record has", "records have")} issues. Change an attribute and save; then validate again.`;
    if (records.length === 0) {
      records = (await request(root, RECORDS, { id: submissionId, withIssues: false })).submission.records;
      intro = "No record has issues. These are the records; change an attribute and save.";
    }
    if (records.length === 100) {
      intro += " Only the first 100 are listed.";
    }
    $("editor-intro").textContent = intro;
    $("editor-records").replaceChildren(...records.map(recordForm));
    $("editor").hidden = false;
    $("action-edit").setAttribute("aria-expanded", "true");
    renderActions();
    $("editor-heading").focus();
  }

  $("action-edit").setAttribute("aria-controls", "editor");
  $("action-edit").setAttribute("aria-expanded", "false");
  $("action-edit").addEventListener("click", async (event) => {
    if (isAvailable(event.currentTarget)) {
      await inFlight("canEdit", openEditor);
    }
  });
  $("editor-close").addEventListener("click", () => {
    $("editor").hidden = true;
    $("action-edit").setAttribute("aria-expanded", "false");
    $("action-edit").focus();
  });

  // --- Delete: confirmed first; then the page says so and offers the way back

  function showDeleted() {
    if (state.connection === "deleted") {
      return;
    }
    state.connection = "deleted";
    client.dispose();
    $("connection").hidden = true;
    $("live-data").hidden = true;
    $("deleted").hidden = false;
    document.title = `Deleted · ${document.title}`;
    $("deleted-heading").focus();
  }

  $("action-delete").addEventListener("click", (event) => {
    if (isAvailable(event.currentTarget)) {
      $("delete-confirm").hidden = false;
      $("delete-no").focus();
    }
  });
  $("delete-no").addEventListener("click", () => {
    $("delete-confirm").hidden = true;
    $("action-delete").focus();
  });
  $("delete-yes").addEventListener("click", async () => {
    if (state.inFlight.has("canDelete")) {
      return;
    }
    const deleted = await inFlight("canDelete", async () => {
      await request(root, DELETE, { id: submissionId });
      return true;
    });
    if (deleted) {
      showDeleted();
    } else {
      $("delete-confirm").hidden = true;
      $("action-delete").focus();
    }
  });

  // --- the subscription

  // Closed for good when the session has ended (the client retries no more);
  // otherwise the client reconnects, and the page says so meanwhile.
  function lostConnection(closeEvent) {
    if (isSignedOut(closeEvent) && state.connection !== "deleted") {
      setConnection("signed-out", "Signed out");
      client.dispose(); // nothing to retry (the client would not, either)
      showSignedOut();
    } else {
      setConnection("reconnecting", "Reconnecting…");
    }
  }

  const client = liveClient(root, { closed: lostConnection, error: lostConnection });

  client.subscribe(
    { query: SUBSCRIPTION, variables: { id: submissionId } },
    {
      next: (result) => {
        if (result.errors) {
          if (errorCode(result.errors) === "NOT_FOUND") {
            showDeleted(); // deleted while this page was away
          } else {
            setConnection("error", result.errors.map((error) => error.message).join("; "));
          }
          return;
        }
        apply(result.data.submissionStatus);
        setConnection("live", "Live");
      },
      error: lostConnection,
      // The server completes a submission's subscriptions when it is deleted
      // (disposing of the client on signing out completes it too).
      complete: () => state.connection !== "signed-out" && showDeleted(),
    },
  );
  renderActions();
})();
