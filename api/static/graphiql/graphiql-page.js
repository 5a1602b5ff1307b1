// GraphiQL for this API: same-origin HTTP with the session's CSRF token, and
// subscriptions over WebSocket on the same URL (the session cookie rides the
// upgrade, so a signed-in browser needs no token; otherwise the Headers tab's
// entries become the connection_init payload, as GraphiQL's own fetcher does).
(function () {
  "use strict";

  const EXAMPLE = `# Every change to a submission, live. Run it, then change the status:
#   .venv/bin/python manage.py set_submission_status 2 LOADED --message "Hello"
subscription {
  submissionStatus(submissionId: "2") {
    version
    status
    statusDisplay
    message
    actions { canEdit canValidate canSubmit canDelete }
    validationSummary {
      animals { total validated unknown issues }
      samples { total validated unknown issues }
    }
    progress { phase done total }
    at
  }
}
`;
  // The server closes a socket whose connection_init carries no valid credentials with 4403.
  const FORBIDDEN = 4403;
  const page = document.getElementById("graphiql");
  const status = document.getElementById("graphiql-status");
  const signInUrl = page.dataset.signInUrl;

  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");
  const headers = {};
  const csrfToken = Cookies.get("csrftoken");
  if (csrfToken) {
    headers["X-CSRFToken"] = csrfToken;
  }
  const httpFetcher = GraphiQL.createFetcher({ url, headers });

  function isSubscription(params, options) {
    const operations = ((options && options.documentAST && options.documentAST.definitions) || []).filter(
      (definition) => definition.kind === "OperationDefinition",
    );
    const chosen = params.operationName
      ? operations.find((operation) => operation.name && operation.name.value === params.operationName)
      : operations.length === 1 && operations[0];
    return Boolean(chosen) && chosen.operation === "subscription";
  }

  // One socket for the credentials in the Headers tab; new ones, a new socket.
  let socket = { key: null, client: null };
  function clientFor(connectionParams) {
    const key = JSON.stringify(connectionParams);
    if (socket.key !== key) {
      if (socket.client) {
        socket.client.dispose();
      }
      const client = graphqlWs.createClient({
        url: subscriptionUrl,
        connectionParams,
        // Refused credentials stay refused: say so at once rather than retry.
        shouldRetry: (event) => !(event && event.code === FORBIDDEN),
      });
      socket = { key, client };
    }
    return socket.client;
  }

  function refusal(event) {
    const reason = event.reason ? ` (${event.reason})` : "";
    return (
      `The server refused this subscription's credentials: socket closed with ${event.code}${reason}. ` +
      `Sign in at ${signInUrl}, or put {"Authorization": "Bearer <token>"} in the Headers tab ` +
      "(manage.py create_api_token USERNAME makes a token), then run it again."
    );
  }

  async function* subscribe(params, connectionParams) {
    try {
      yield* clientFor(connectionParams).iterate(params);
    } catch (error) {
      if (Array.isArray(error)) {
        yield { errors: error }; // the server's `error` message: the document was refused
      } else if (error && error.code === FORBIDDEN) {
        status.textContent = refusal(error);
        yield { errors: [{ message: refusal(error), extensions: { code: "UNAUTHENTICATED" } }] };
      } else if (error && typeof error.code === "number") {
        throw new Error(`The socket closed with ${error.code}${error.reason ? `: ${error.reason}` : ""}.`);
      } else {
        throw error;
      }
    }
  }

  function fetcher(params, options) {
    if (isSubscription(params, options)) {
      status.textContent = "";
      return subscribe(params, (options && options.headers) || {});
    }
    return httpFetcher(params, options);
  }

  // CodeMirror 5 takes Tab for indenting. Esc, then Tab or Shift+Tab, hands
  // the key back to the browser so that focus leaves the editor (as in
  // CodeMirror 6); the editors get names for screen readers too.
  function labelOf(element) {
    if (element.closest(".graphiql-query-editor")) {
      return "Query editor";
    }
    if (element.closest(".result-window")) {
      return "Response";
    }
    const tool = element.closest(".graphiql-editor-tool");
    if (tool) {
      const editors = Array.from(tool.querySelectorAll(".CodeMirror"));
      return editors.indexOf(element) === 0 ? "Variables editor" : "Headers editor";
    }
    return "Editor";
  }

  const enhanced = new WeakSet();
  function enhance(element) {
    const editor = element.CodeMirror;
    if (!editor || enhanced.has(element)) {
      return;
    }
    enhanced.add(element);
    editor.setOption("screenReaderLabel", labelOf(element));
    editor.setOption("lineWrapping", true);
    let leaving = false;
    element.addEventListener(
      "keydown",
      (event) => {
        if (event.key === "Tab" && leaving) {
          event.stopPropagation(); // past CodeMirror; the browser moves focus
        }
        leaving = event.key === "Escape";
      },
      true,
    );
    editor.on("blur", () => {
      leaving = false;
    });
  }
  new MutationObserver(() => page.querySelectorAll(".CodeMirror").forEach(enhance)).observe(page, {
    childList: true,
    subtree: true,
  });

  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  ReactDOM.createRoot(page).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
    }),
  );
})();
