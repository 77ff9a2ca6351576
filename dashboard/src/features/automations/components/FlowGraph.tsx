import { Badge, Paper, Text } from "@mantine/core";
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import { workflowToGraph, type StepNodeData, type StepState, type Workflow } from "../api/workflow";

const STATE_COLOR: Record<StepState, string> = {
  succeeded: "green",
  taken: "green",
  failed: "red",
  refused: "red",
  running: "blue",
  skipped: "gray",
  not_reached: "gray",
};

function StepNode({ data, selected }: NodeProps<Node<StepNodeData>>) {
  const { t } = useTranslation();
  const color = data.error ? "red" : data.state ? STATE_COLOR[data.state] : undefined;
  return (
    <Paper
      withBorder
      shadow={selected ? "md" : "xs"}
      p="xs"
      w={200}
      style={{ borderColor: color ? `var(--mantine-color-${color}-7)` : undefined, borderWidth: color ? 2 : 1 }}
      data-testid={`node-${data.step?.id ?? "trigger"}`}
      data-state={data.state ?? ""}
    >
      {data.kind !== "trigger" && <Handle type="target" position={Position.Top} />}
      <Text size="xs" fw={700} tt="uppercase" c="dimmed">
        {t(`automations.node.${data.kind}`)}
        {data.step ? ` · ${data.step.id}` : ""}
      </Text>
      <Text size="sm" truncate title={data.label}>
        {data.label}
      </Text>
      {data.state && (
        <Badge size="xs" color={color} variant="light">
          {t(`automations.state.${data.state}`)}
        </Badge>
      )}
      {data.error && (
        <Text size="xs" c="red.8" role="alert">
          {data.error}
        </Text>
      )}
      <Handle type="source" position={Position.Bottom} />
    </Paper>
  );
}

const nodeTypes = { step: StepNode };

/** The workflow as a graph; `states` colours the steps a simulation or a run went through. */
export function FlowGraph({
  workflow,
  states = {},
  errors = {},
  onSelect,
  height = 460,
}: {
  workflow: Workflow;
  states?: Record<string, StepState>;
  errors?: Record<string, string>;
  onSelect?: (stepId: string) => void;
  height?: number;
}) {
  const { t } = useTranslation();
  const graph = useMemo(() => workflowToGraph(workflow), [workflow]);
  const nodes = graph.nodes.map((node) => ({
    ...node,
    data: { ...node.data, state: states[node.id], error: errors[node.id] },
  }));
  return (
    <div style={{ height }} role="region" aria-label={t("automations.graph")}>
      <ReactFlow
        nodes={nodes}
        edges={graph.edges.map((edge) => ({ ...edge, label: edge.label ? t(`automations.${String(edge.label)}`) : undefined }))}
        nodeTypes={nodeTypes}
        fitView
        fitViewOptions={{ maxZoom: 1, padding: 0.2 }}
        nodesDraggable={false}
        nodesConnectable={false}
        onNodeClick={(_, node) => onSelect?.(node.id)}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}
