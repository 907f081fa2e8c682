import type { Filter } from 'mongodb';
import { UserError } from './errors';

/**
 * Keyset paging, newest first, on (time, _id): a cursor names the last row seen, so rows inserted
 * meanwhile (newer) never shift later pages, and every page is an index range, never a skip.
 */
export interface Position {
  at: Date;
  id: string;
}

export const MAX_PAGE = 500;

export interface Page<T> {
  nodes: T[];
  endCursor: string | null;
  hasNextPage: boolean;
  /**
   * Counts every matching row, all pages. A function, run only when a client asks for totalCount: a
   * count reads the whole range (on FerretDB's SQLite backend, the whole collection).
   */
  count: () => Promise<number | null>;
}

/**
 * A page as the GraphQL connection types carry it (codegen's mappers for *Connection): `nodes`, and
 * the same rows as Relay `edges`, each with the cursor that pages on from it.
 */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  nodes: T[];
  pageInfo: { startCursor: string | null; endCursor: string | null; hasNextPage: boolean; hasPreviousPage: boolean };
  count: () => Promise<number | null>;
}

/**
 * `positionOf` gives each node's place, as the query ordered it. Paging runs forward only: there are
 * rows before this page exactly when it was asked for after a cursor.
 */
export const toConnection = <T>(page: Page<T>, positionOf: (node: T) => Position, after: string | null | undefined): Connection<T> => {
  const edges = page.nodes.map((node) => ({ cursor: encodeCursor(positionOf(node)), node }));
  return {
    edges,
    nodes: page.nodes,
    pageInfo: { startCursor: edges[0]?.cursor ?? null, endCursor: page.endCursor, hasNextPage: page.hasNextPage, hasPreviousPage: Boolean(after) },
    count: page.count,
  };
};

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.at.getTime(), position.id])).toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): Position | null {
  if (!cursor) return null;
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof ms === 'number' && typeof id === 'string') return { at: new Date(ms), id };
  } catch {
    // fall through to the error below
  }
  throw new UserError('INVALID_CURSOR', 'after: not a cursor returned by this API (pass pageInfo.endCursor as it is)', 'after');
}

export function pageSize(first: number | null | undefined, fallback = 50): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE) {
    throw new UserError('INVALID_INPUT', `first must be between 1 and ${MAX_PAGE}`, 'first');
  }
  return size;
}

/**
 * Turns `size + 1` rows read in page order into a page: the extra row only says there is a next one.
 * `positionOf` names a row's place, which becomes the cursor of the last row kept.
 */
export function toPage<T>(rows: T[], size: number, positionOf: (row: T) => Position): Omit<Page<T>, 'count'> {
  const nodes = rows.slice(0, size);
  const last = nodes[nodes.length - 1];
  return { nodes, endCursor: last ? encodeCursor(positionOf(last)) : null, hasNextPage: rows.length > size };
}

/** Rows strictly after `position` in (timeField desc, idField desc) order. */
export function afterPosition<T>(position: Position | null, timeField: string, idField: string): Filter<T> {
  if (!position) return {};
  return {
    $or: [{ [timeField]: { $lt: position.at } }, { [timeField]: position.at, [idField]: { $lt: position.id } }],
  } as Filter<T>;
}

/** A time range filter on one field; absent bounds are open. */
export function timeRange(after: Date | null | undefined, before: Date | null | undefined): { $gte?: Date; $lt?: Date } | undefined {
  if (!after && !before) return undefined;
  return { ...(after ? { $gte: after } : {}), ...(before ? { $lt: before } : {}) };
}
