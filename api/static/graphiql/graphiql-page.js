// GraphiQL for this API: same-origin HTTP with the session's CSRF token, and
// subscriptions over WebSocket on the same URL (the session cookie rides the
// upgrade, so a signed-in browser needs no token).
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

  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");
  const headers = {};
  const csrfToken = Cookies.get("csrftoken");
  if (csrfToken) {
    headers["X-CSRFToken"] = csrfToken;
  }

  const fetcher = GraphiQL.createFetcher({ url, headers, subscriptionUrl });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
    }),
  );
})();
