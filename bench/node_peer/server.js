// The benchmark's Node peer: the submission status API as a Node team would
// build it (the README, "Performance"), measured beside ours by `python -m bench`.
//
// graphql-yoga serves HTTP (POST /graphql and /graphql/) and gives the
// in-process `createPubSub`; graphql-ws `useServer` on `ws` serves the same
// schema over WebSocket (graphql-transport-ws) at /graphql; better-sqlite3
// keeps the data in WAL mode. A change is one row update (version =
// version + 1) in a transaction, published after it commits; a subscription
// listens to its topic before it reads the snapshot, and drops the events
// it has already seen (version <= last).
//
//   NODE_PEER_DATABASE=/tmp/peer.sqlite3 NODE_PEER_TOKEN=secret PORT=0 node server.js
//
// Prints "Listening on http://127.0.0.1:PORT" once it listens.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

import Database from 'better-sqlite3';
import { GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { WebSocketServer } from 'ws';

const DATABASE = process.env.NODE_PEER_DATABASE ?? 'peer.sqlite3';
const HOST = process.env.HOST ?? '127.0.0.1';
const PORT = Number(process.env.PORT ?? 4000);

// ---- storage ---------------------------------------------------------------

const db = new Database(DATABASE);
// WAL with synchronous=NORMAL: a commit writes the log without waiting for
// fsync (~0.04 ms here, against ~4 ms with FULL): the usual pairing with WAL.
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 20000');
db.exec(`
  CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, username TEXT NOT NULL, is_service INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'WAITING', message TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, name TEXT NOT NULL, attributes TEXT NOT NULL DEFAULT '{}',
    outcome TEXT,  -- NULL until validated: PASS, WARNING or ERROR
    UNIQUE (submission_id, kind, name));
  CREATE TABLE IF NOT EXISTS validation_messages (
    record_id INTEGER NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    message TEXT NOT NULL, offending_column TEXT);
`);

const sha256 = (text) => createHash('sha256').update(text).digest('hex');
if (process.env.NODE_PEER_TOKEN) {
  db.prepare('INSERT OR REPLACE INTO tokens (hash, username, is_service) VALUES (?, ?, 1)').run(
    sha256(process.env.NODE_PEER_TOKEN),
    process.env.NODE_PEER_USERNAME ?? 'bench',
  );
}

const sql = {
  token: db.prepare('SELECT username, is_service FROM tokens WHERE hash = ?'),
  submission: db.prepare('SELECT * FROM submissions WHERE id = ?'),
  insert: db.prepare(
    `INSERT INTO submissions (title, description, owner, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?) RETURNING *`,
  ),
  update: db.prepare(
    `UPDATE submissions SET status = ?, message = ?, version = version + 1, updated_at = ?
     WHERE id = ? RETURNING *`,
  ),
  remove: db.prepare('DELETE FROM submissions WHERE id = ?'),
  bump: db.prepare('UPDATE submissions SET version = version + 1, updated_at = ? WHERE id = ? RETURNING *'),
  insertRecord: db.prepare('INSERT INTO records (submission_id, kind, name, attributes) VALUES (?, ?, ?, ?)'),
  record: db.prepare('SELECT id FROM records WHERE submission_id = ? AND kind = ? AND name = ?'),
  setOutcome: db.prepare('UPDATE records SET outcome = ? WHERE id = ?'),
  clearMessages: db.prepare('DELETE FROM validation_messages WHERE record_id = ?'),
  insertMessage: db.prepare('INSERT INTO validation_messages (record_id, message, offending_column) VALUES (?, ?, ?)'),
  hasRecords: db.prepare('SELECT EXISTS (SELECT 1 FROM records WHERE submission_id = ?) AS has'),
  counts: db.prepare(
    `SELECT kind, COUNT(*) AS total, COUNT(outcome) AS validated,
            SUM(outcome = 'PASS') AS pass, SUM(outcome = 'WARNING') AS warning, SUM(outcome = 'ERROR') AS error
     FROM records WHERE submission_id = ? GROUP BY kind`,
  ),
  messages: db.prepare(
    `SELECT r.kind, m.message, m.offending_column AS offendingColumn,
            COUNT(DISTINCT r.id) AS count, json_group_array(DISTINCT r.name) AS names
     FROM validation_messages m JOIN records r ON r.id = m.record_id
     WHERE r.submission_id = ? AND (? IS NULL OR r.kind = ?)
     GROUP BY r.kind, m.message, m.offending_column
     ORDER BY count DESC, r.kind, m.message, m.offending_column LIMIT ?`,
  ),
};

// ---- domain ----------------------------------------------------------------

const STATUS_DISPLAY = {
  WAITING: 'Waiting', LOADED: 'Loaded', SUBMITTED: 'Submitted', ERROR: 'Error',
  NEED_REVISION: 'Need Revision', READY: 'Ready', COMPLETED: 'Completed',
};
// A status reachable only from the ones listed; every other change is allowed.
const ONLY_FROM = {
  COMPLETED: ['SUBMITTED'], SUBMITTED: ['READY', 'WAITING'],
  READY: ['WAITING', 'LOADED'], NEED_REVISION: ['WAITING', 'LOADED'],
};

const fail = (code, message) => new GraphQLError(message, { extensions: { code } });

function viewerOf(authorization) {
  const match = /^Bearer (\S+)$/.exec(authorization ?? '');
  if (!match) return null;
  const row = sql.token.get(sha256(match[1]));
  if (!row) throw fail('UNAUTHENTICATED', 'Invalid token.');
  return { username: row.username, isService: row.is_service === 1 };
}

function visibleSubmission(viewer, id) {
  if (!viewer) throw fail('UNAUTHENTICATED', 'Sign in or send a token.');
  const row = /^\d{1,18}$/.test(String(id)) ? sql.submission.get(Number(id)) : undefined;
  if (!row || (!viewer.isService && row.owner !== viewer.username)) {
    throw fail('NOT_FOUND', `Submission ${id} not found.`);
  }
  return row;
}

function requireService(viewer) {
  if (!viewer) throw fail('UNAUTHENTICATED', 'Sign in or send a token.');
  if (!viewer.isService) throw fail('FORBIDDEN', 'Only services may do this.');
}

function actionsOf(row, hasRecords) {
  const { status } = row;
  return {
    canEdit: hasRecords && !['WAITING', 'SUBMITTED'].includes(status),
    canDelete: !['WAITING', 'SUBMITTED'].includes(status),
    canValidate: !['ERROR', 'WAITING', 'SUBMITTED', 'COMPLETED', 'READY'].includes(status),
    canSubmit: status === 'READY',
  };
}

function validationSummary(submissionId) {
  const empty = { total: 0, validated: 0, unknown: 0, pass: 0, warning: 0, error: 0, issues: 0 };
  const summary = { submissionId: String(submissionId), animals: { ...empty }, samples: { ...empty } };
  for (const row of sql.counts.all(submissionId)) {
    summary[row.kind === 'ANIMAL' ? 'animals' : 'samples'] = {
      total: row.total, validated: row.validated, unknown: row.total - row.validated,
      pass: row.pass ?? 0, warning: row.warning ?? 0, error: row.error ?? 0, issues: row.error ?? 0,
    };
  }
  return summary;
}

// One event, built once by the publisher and shared by every subscriber.
function eventOf(row, { withSummary, progress = null }) {
  return {
    submissionId: String(row.id),
    version: row.version,
    status: row.status,
    statusDisplay: STATUS_DISPLAY[row.status],
    message: row.message,
    actions: actionsOf(row, sql.hasRecords.get(row.id).has === 1),
    validationSummary: withSummary ? validationSummary(row.id) : null,
    progress,
    at: row.updated_at,
  };
}

const pubsub = createPubSub();

const changeStatus = db.transaction(({ id, status, message, force }) => {
  const row = sql.submission.get(Number(id));
  if (!row) throw fail('NOT_FOUND', `Submission ${id} not found.`);
  if (!force && status !== row.status && ONLY_FROM[status] && !ONLY_FROM[status].includes(row.status)) {
    throw fail('INVALID_TRANSITION', `A submission cannot go from ${row.status} to ${status}.`);
  }
  return sql.update.get(status, message ?? '', new Date().toISOString(), row.id);
});

// The service mutations beside updateSubmissionStatus (what `python -m bench writes` measures):
// each is one transaction that bumps the version, published after it commits.
const bump = (id) => sql.bump.get(new Date().toISOString(), id);

const addRecords = db.transaction((id, records) => {
  for (const r of records) sql.insertRecord.run(id, r.kind, r.name, JSON.stringify(r.attributes ?? {}));
  return bump(id);
});

const recordResults = db.transaction((id, results) => {
  for (const r of results) {
    const record = sql.record.get(id, r.kind, r.name);
    if (!record) throw fail('BAD_USER_INPUT', `Record ${r.name} does not exist.`);
    sql.setOutcome.run(r.outcome, record.id);
    sql.clearMessages.run(record.id);
    for (const m of r.messages ?? []) sql.insertMessage.run(record.id, m.message, m.offendingColumn ?? null);
  }
  return bump(id);
});

const reportProgress = db.transaction((id) => bump(id));

function publishChange(row, options) {
  const event = eventOf(row, options);
  pubsub.publish('submission', String(row.id), event);
  return event;
}

// ---- GraphQL ---------------------------------------------------------------

const typeDefs = /* GraphQL */ `
  scalar DateTime
  enum SubmissionStatus { WAITING LOADED SUBMITTED ERROR NEED_REVISION READY COMPLETED }
  enum RecordKind { ANIMAL SAMPLE }
  enum ValidationOutcome { PASS WARNING ERROR }
  scalar JSON
  type Viewer { username: String! isService: Boolean! }
  type SubmissionActions { canEdit: Boolean! canValidate: Boolean! canSubmit: Boolean! canDelete: Boolean! }
  type ValidationCounts { total: Int! validated: Int! unknown: Int! pass: Int! warning: Int! error: Int! issues: Int! }
  type ValidationMessageGroup {
    kind: RecordKind! message: String! offendingColumn: String count: Int! recordNames: [String!]!
  }
  type ValidationSummary {
    submissionId: ID! animals: ValidationCounts! samples: ValidationCounts!
    messages(kind: RecordKind, limit: Int = 100): [ValidationMessageGroup!]!
  }
  type Progress { phase: String! done: Int! total: Int! }
  type Submission {
    id: ID! title: String! description: String! owner: String!
    status: SubmissionStatus! statusDisplay: String! message: String version: Int!
    createdAt: DateTime! updatedAt: DateTime!
    actions: SubmissionActions! validationSummary: ValidationSummary!
  }
  type SubmissionStatusEvent {
    submissionId: ID! version: Int! status: SubmissionStatus! statusDisplay: String! message: String
    actions: SubmissionActions! validationSummary: ValidationSummary progress: Progress at: DateTime!
  }
  input CreateSubmissionInput { title: String! description: String = "" }
  input UpdateSubmissionStatusInput {
    id: ID! status: SubmissionStatus! message: String includeValidation: Boolean = false force: Boolean = false
  }
  input RecordInput { kind: RecordKind! name: String! attributes: JSON }
  input AddRecordsInput { submissionId: ID! records: [RecordInput!]! }
  input ValidationMessageInput { message: String! offendingColumn: String }
  input ValidationResultInput {
    kind: RecordKind! name: String! outcome: ValidationOutcome! messages: [ValidationMessageInput!] = []
  }
  input RecordValidationResultsInput { submissionId: ID! results: [ValidationResultInput!]! }
  input ReportProgressInput { submissionId: ID! phase: String! done: Int! total: Int! }
  type Query { viewer: Viewer submission(id: ID!): Submission }
  type Mutation {
    createSubmission(input: CreateSubmissionInput!): Submission!
    deleteSubmission(id: ID!): ID!
    updateSubmissionStatus(input: UpdateSubmissionStatusInput!): SubmissionStatusEvent!
    addRecords(input: AddRecordsInput!): Int!
    recordValidationResults(input: RecordValidationResultsInput!): ValidationSummary!
    reportProgress(input: ReportProgressInput!): SubmissionStatusEvent!
  }
  type Subscription { submissionStatus(submissionId: ID!): SubmissionStatusEvent! }
`;

const resolvers = {
  Query: {
    viewer: (_, __, { viewer }) => viewer,
    submission: (_, { id }, { viewer }) => visibleSubmission(viewer, id),
  },
  Submission: {
    statusDisplay: (row) => STATUS_DISPLAY[row.status],
    createdAt: (row) => row.created_at,
    updatedAt: (row) => row.updated_at,
    actions: (row) => actionsOf(row, sql.hasRecords.get(row.id).has === 1),
    validationSummary: (row) => validationSummary(row.id),
  },
  ValidationSummary: {
    messages: (summary, { kind, limit }) =>
      sql.messages.all(Number(summary.submissionId), kind ?? null, kind ?? null, Math.min(limit, 1000)).map(
        (group) => ({ ...group, recordNames: JSON.parse(group.names) }),
      ),
  },
  Mutation: {
    createSubmission: (_, { input }, { viewer }) => {
      if (!viewer) throw fail('UNAUTHENTICATED', 'Sign in or send a token.');
      const now = new Date().toISOString();
      return sql.insert.get(input.title, input.description ?? '', viewer.username, now, now);
    },
    deleteSubmission: (_, { id }, { viewer }) => {
      const row = visibleSubmission(viewer, id);
      if (!actionsOf(row, false).canDelete) throw fail('FORBIDDEN', `A ${row.status} submission cannot be deleted.`);
      sql.remove.run(row.id);
      pubsub.publish('submission', String(row.id), { deleted: true });
      return String(row.id);
    },
    updateSubmissionStatus: (_, { input }, { viewer }) => {
      requireService(viewer);
      if (!/^\d{1,18}$/.test(input.id)) throw fail('NOT_FOUND', `Submission ${input.id} not found.`);
      const row = changeStatus(input); // commits here
      const event = eventOf(row, { withSummary: input.includeValidation });
      pubsub.publish('submission', String(row.id), event);
      return event;
    },
    addRecords: (_, { input }, { viewer }) => {
      requireService(viewer);
      const { id } = visibleSubmission(viewer, input.submissionId);
      publishChange(addRecords(id, input.records), { withSummary: true });
      return input.records.length;
    },
    recordValidationResults: (_, { input }, { viewer }) => {
      requireService(viewer);
      const { id } = visibleSubmission(viewer, input.submissionId);
      return publishChange(recordResults(id, input.results), { withSummary: true }).validationSummary;
    },
    reportProgress: (_, { input }, { viewer }) => {
      requireService(viewer);
      const { id } = visibleSubmission(viewer, input.submissionId);
      const { phase, done, total } = input;
      if (!(0 <= done && done <= total)) throw fail('BAD_USER_INPUT', 'Progress needs 0 <= done <= total.');
      return publishChange(reportProgress(id), { withSummary: false, progress: { phase, done, total } });
    },
  },
  Subscription: {
    submissionStatus: {
      subscribe: async function* (_, { submissionId }, { viewer }) {
        const { id } = visibleSubmission(viewer, submissionId);
        const events = pubsub.subscribe('submission', String(id));
        // The pubsub's Repeater listens from its first next(): ask for it before
        // the snapshot is read, so that a change committed in between is not missed.
        // (As usual with async generators, one the client completes lets go of its
        // listener at the next event of its submission.)
        const pending = events.next();
        try {
          const row = sql.submission.get(id);
          if (!row) return;
          let last = row.version;
          yield eventOf(row, { withSummary: true });
          for (let next = await pending; !next.done; next = await events.next()) {
            if (next.value.deleted) return;
            if (next.value.version <= last) continue; // already in the snapshot
            last = next.value.version;
            yield next.value;
          }
        } finally {
          await events.return();
        }
      },
      resolve: (event) => event,
    },
  },
};

const schema = createSchema({ typeDefs, resolvers });
const yoga = createYoga({
  schema,
  graphqlEndpoint: '/graphql{/}?',
  graphiql: false,
  landingPage: false,
  logging: 'warn',
  context: ({ request }) => ({ viewer: viewerOf(request.headers.get('authorization')) }),
});

const server = createServer(yoga);
const wsServer = new WebSocketServer({ server, path: '/graphql' });

function authorizationOf(params) {
  const key = Object.keys(params ?? {}).find((name) => name.toLowerCase() === 'authorization');
  return key === undefined ? undefined : params[key];
}

useServer(
  {
    schema,
    // Closes with 4403 when connection_init carries no valid credentials.
    onConnect: (ctx) => {
      try {
        const viewer = viewerOf(authorizationOf(ctx.connectionParams) ?? ctx.extra.request.headers.authorization);
        if (!viewer) return false;
        ctx.extra.viewer = viewer;
        return true;
      } catch {
        return false;
      }
    },
    context: (ctx) => ({ viewer: ctx.extra.viewer }),
  },
  wsServer,
);

server.listen(PORT, HOST, () => {
  const { address, port } = server.address();
  console.log(`Listening on http://${address}:${port}`);
});

function shutdown() {
  for (const socket of wsServer.clients) socket.close(1001, 'Going away');
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
