import {
  GraphQLError,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

/**
 * What one request may cost, counting what it loads rather than what it names: a connection's subtree
 * counts `first` times, a list field its typical length, and fields that carry bodies weigh more. The
 * cost limit of graphql-armor counts each field once, so `messages(first: 500) { nodes { deliveries {
 * attempts { responseBody } } } }` passed it while loading gigabytes.
 */
export const MAX_QUERY_COST = 25_000;

/** Lists without paging, sized as a delivery usually has them: fan-out, and attempts under a retry policy. */
const LIST_SIZE: Record<string, number> = { deliveries: 10, attempts: 10, apiKeys: 10, endpoints: 100, tenants: 100, maintenanceRuns: 20 };
/** Fields whose value can be large: a payload (up to 256 KiB), a response body (up to 4 KiB). */
const FIELD_WEIGHT: Record<string, number> = { payload: 20, responseBody: 4 };
const DEFAULT_FIRST = 50;

function firstArgument(field: FieldNode, variables: Record<string, unknown>): number | null {
  const arg = field.arguments?.find((a) => a.name.value === 'first');
  if (!arg) return null;
  if (arg.value.kind === Kind.INT) return Number(arg.value.value);
  if (arg.value.kind === Kind.VARIABLE) {
    const value = variables[arg.value.name.value];
    return typeof value === 'number' ? value : null;
  }
  return null;
}

function costOf(
  set: SelectionSetNode | undefined,
  fragments: Map<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  seen: Set<string>,
): number {
  if (!set) return 0;
  let total = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = fragments.get(selection.name.value);
      if (fragment && !seen.has(fragment.name.value)) total += costOf(fragment.selectionSet, fragments, variables, new Set([...seen, fragment.name.value]));
      continue;
    }
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      total += costOf(selection.selectionSet, fragments, variables, seen);
      continue;
    }
    const name = selection.name.value;
    const children = costOf(selection.selectionSet, fragments, variables, seen);
    const first = firstArgument(selection, variables);
    const isConnection = selection.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && (s.name.value === 'nodes' || s.name.value === 'edges'));
    const times = first ?? (isConnection ? DEFAULT_FIRST : (LIST_SIZE[name] ?? 1));
    total += (FIELD_WEIGHT[name] ?? 1) + times * children;
  }
  return total;
}

/** A validation rule: an operation over the limit is refused with QUERY_TOO_COSTLY before it runs. */
export function queryCostRule(variables: Record<string, unknown> = {}): ValidationRule {
  return (context) => {
    const fragments = new Map(
      context
        .getDocument()
        .definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    );
    return {
      OperationDefinition(operation: OperationDefinitionNode) {
        const cost = costOf(operation.selectionSet, fragments, variables, new Set());
        if (cost > MAX_QUERY_COST) {
          context.reportError(
            new GraphQLError(
              `the query would load about ${cost} units, over the limit of ${MAX_QUERY_COST}: ask for fewer items per page (first) or fewer nested fields`,
              {
                nodes: [operation],
                extensions: { code: 'QUERY_TOO_COSTLY' },
              },
            ),
          );
        }
      },
    };
  };
}
