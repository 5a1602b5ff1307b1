// Subscribes to one submission's status over HTTP with a real client library,
// and prints what the library hands the application, one JSON line each:
//   {"next": <data>} | {"errors": [...]} | {"error": "<message>"} | {"complete": true}
//
//   node subscribe.mjs <apollo|urql|urql-multipart|graphql-sse> <url> <token or ""> <submission id>
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { Client, fetchExchange } from "@urql/core";
import { createClient } from "graphql-sse";

const [library, url, token, submissionId] = process.argv.slice(2);
const query = `subscription ($id: ID!) { submissionStatus(submissionId: $id) { version status message } }`;
const variables = { id: submissionId };
const headers = token ? { authorization: `Bearer ${token}` } : {};

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const report = (result) => {
  if (result.errors?.length) print({ errors: result.errors });
  else print({ next: result.data });
};
const fail = (error) => {
  print({ error: String(error?.message ?? error) });
  process.exit(1);
};
const done = () => {
  print({ complete: true });
  process.exit(0);
};

if (library === "apollo") {
  // Apollo Client's HttpLink sends a subscription with
  // `Accept: multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json`.
  const client = new ApolloClient({ link: new HttpLink({ uri: url, headers }), cache: new InMemoryCache() });
  client.subscribe({ query: gql(query), variables }).subscribe({
    next: (result) => {
      const errors = result.error?.errors ?? result.error?.graphQLErrors;
      if (result.error) print(errors?.length ? { errors } : { error: result.error.message });
      else report(result);
    },
    error: fail,
    complete: done,
  });
} else if (library === "urql" || library === "urql-multipart") {
  // With fetchSubscriptions urql sends `Accept: text/event-stream, multipart/mixed`;
  // "urql-multipart" asks for the multipart protocol alone.
  const accept = library === "urql-multipart" ? { accept: "multipart/mixed;subscriptionSpec=1.0" } : {};
  const client = new Client({
    url,
    exchanges: [fetchExchange],
    fetchSubscriptions: true,
    fetchOptions: { headers: { ...headers, ...accept } },
  });
  client.subscription(query, variables).subscribe((result) => {
    // urql marks the end of a stream with a last result, hasNext false, that repeats the one before.
    if (result.hasNext === false) return done();
    if (result.error?.networkError) return fail(result.error.networkError);
    if (result.error) print({ errors: result.error.graphQLErrors });
    else print({ next: result.data });
  });
} else if (library === "graphql-sse") {
  const client = createClient({ url, headers, singleConnection: false, retryAttempts: 0 });
  client.subscribe({ query, variables }, { next: report, error: fail, complete: done });
} else {
  fail(`unknown library ${library}`);
}
