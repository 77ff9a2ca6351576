import {
  Alert,
  Badge,
  Button,
  Card,
  Grid,
  Group,
  Loader,
  SegmentedControl,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Textarea,
  Title,
} from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useNavigate, useParams } from "react-router";
import { ProblemAlert } from "@/components/ProblemAlert";
import { useTenantFormat } from "@/features/tenant/api/tenant";
import { api } from "@/lib/api/client";
import { ApiError, fieldOf, unwrap } from "@/lib/api/problem";
import { formatDateTime } from "@/lib/format";
import {
  useAutomation,
  useCreateAutomation,
  useRun,
  useRuns,
  useSimulate,
  type Simulation,
} from "../api/automations";
import {
  addStep,
  findStep,
  newStep,
  removeStep,
  replaceStep,
  stepOfError,
  type Step,
  type StepState,
  type Target,
  type Workflow,
} from "../api/workflow";
import { FlowGraph } from "../components/FlowGraph";
import { StepEditor } from "../components/StepEditor";

function useEventTypes() {
  return useQuery({
    queryKey: ["events", "catalog"],
    queryFn: () => unwrap<{ events: { type: string }[] }>(api.GET("/events/catalog")),
    staleTime: Infinity,
    select: (data) => data.events.map((e) => e.type),
  });
}

function NewAutomation() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const create = useCreateAutomation();
  const events = useEventTypes();
  const [name, setName] = useState("");
  const [workflow, setWorkflow] = useState<Workflow>({ trigger: { event: "crm.lead.created" }, steps: [] });
  const [selected, setSelected] = useState<string | null>(null);
  const [branch, setBranch] = useState<"then" | "else">("then");
  const selectedStep = selected ? findStep(workflow.steps, selected) : undefined;
  const target: Target = selectedStep?.type === "condition" ? { condition: selectedStep.id, branch } : { condition: null };
  const add = (type: Step["type"]) => {
    const step = newStep(type, workflow.steps);
    setWorkflow(addStep(workflow, target, step));
    setSelected(step.id);
  };
  const errors: Record<string, string> = {};
  let nameError: string | undefined;
  const problem = create.error instanceof ApiError ? create.error.problem : null;
  for (const error of problem?.errors ?? []) {
    const stepId = stepOfError(error.loc, workflow.steps);
    if (stepId) errors[stepId] = error.msg;
    else if (fieldOf(error) === "name") nameError = error.msg;
    else if (fieldOf(error).startsWith("workflow.trigger")) errors.trigger = error.msg;
  }
  const unplaced = problem && Object.keys(errors).length === 0 && !nameError;
  return (
    <Stack>
      <Title order={1}>{t("automations.new")}</Title>
      <Grid>
        <Grid.Col span={{ base: 12, md: 8 }}>
          <Card withBorder p={0}>
            <FlowGraph workflow={workflow} errors={errors} onSelect={(id) => setSelected(id === "trigger" ? null : id)} />
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Stack>
            <TextInput label={t("fields.name")} required value={name} error={nameError} onChange={(e) => setName(e.currentTarget.value)} />
            <Select
              label={t("automations.trigger")}
              searchable
              data={events.data ?? [workflow.trigger.event]}
              value={workflow.trigger.event}
              onChange={(event) => event && setWorkflow({ ...workflow, trigger: { event } })}
              allowDeselect={false}
            />
            <Card withBorder>
              <Stack gap="xs">
                <Text size="sm" fw={600}>
                  {selectedStep ? t("automations.addInto", { id: selectedStep.id }) : t("automations.addToEnd")}
                </Text>
                {selectedStep?.type === "condition" && (
                  <SegmentedControl
                    size="xs"
                    value={branch}
                    onChange={(value) => setBranch(value as "then" | "else")}
                    data={[
                      { value: "then", label: t("automations.then") },
                      { value: "else", label: t("automations.else") },
                    ]}
                  />
                )}
                <Group gap="xs">
                  <Button size="xs" variant="light" onClick={() => add("condition")}>
                    {t("automations.node.condition")}
                  </Button>
                  <Button size="xs" variant="light" onClick={() => add("delay")}>
                    {t("automations.node.delay")}
                  </Button>
                  <Button size="xs" variant="light" onClick={() => add("action")}>
                    {t("automations.node.action")}
                  </Button>
                </Group>
              </Stack>
            </Card>
            {selectedStep && (
              <Card withBorder>
                <Text size="sm" fw={600} mb="xs">
                  {t("automations.editStep", { id: selectedStep.id })}
                </Text>
                <StepEditor
                  step={selectedStep}
                  onChange={(step) => setWorkflow(replaceStep(workflow, step))}
                  onRemove={() => {
                    setWorkflow(removeStep(workflow, selectedStep.id));
                    setSelected(null);
                  }}
                />
              </Card>
            )}
            {unplaced && <ProblemAlert error={create.error} />}
            <Button
              loading={create.isPending}
              onClick={() => create.mutate({ name, workflow }, { onSuccess: (created) => navigate(`/automations/${created.id}`) })}
            >
              {t("automations.publish")}
            </Button>
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

function simulationStates(simulation: Simulation): Record<string, StepState> {
  const states: Record<string, StepState> = { trigger: simulation.matched ? "taken" : "not_reached" };
  for (const step of simulation.path) states[step.id] = step.outcome.refused ? "refused" : "taken";
  return states;
}

function ExistingAutomation({ id }: { id: string }) {
  const { t } = useTranslation();
  const format = useTenantFormat();
  const automation = useAutomation(id);
  const simulate = useSimulate(id);
  const runs = useRuns(id);
  const [runId, setRunId] = useState<string | null>(null);
  const run = useRun(runId);
  const [data, setData] = useState('{\n  "lead": {"name": "Ana", "source": "web"}\n}');
  const [view, setView] = useState<"simulation" | "run">("simulation");
  if (automation.isPending) return <Loader aria-label={t("records.loading")} />;
  if (!automation.data) return <ProblemAlert error={automation.error} />;
  const current = automation.data;
  let states: Record<string, StepState> = {};
  const errors: Record<string, string> = {};
  if (view === "simulation" && simulate.data) states = simulationStates(simulate.data);
  if (view === "run" && run.data) {
    for (const step of run.data.steps) {
      states[step.id] = step.state as StepState;
      if (step.error?.message) errors[step.id] = step.error.message;
    }
  }
  let parsed: Record<string, unknown> | null = null;
  try {
    parsed = JSON.parse(data) as Record<string, unknown>;
  } catch {
    parsed = null;
  }
  return (
    <Stack>
      <Group>
        <Title order={1}>{current.name}</Title>
        <Badge variant="light">{t(`automations.status.${current.status}`, { defaultValue: current.status })}</Badge>
        <Text c="dimmed">v{current.version}</Text>
      </Group>
      <Grid>
        <Grid.Col span={{ base: 12, md: 8 }}>
          <Card withBorder p={0}>
            <FlowGraph workflow={current.workflow} states={states} errors={errors} />
          </Card>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 4 }}>
          <Stack>
            <Card withBorder>
              <Stack gap="xs">
                <Title order={2} size="h5">
                  {t("automations.simulate")}
                </Title>
                <Textarea
                  label={t("automations.eventData", { type: current.trigger.event })}
                  autosize
                  minRows={3}
                  value={data}
                  error={parsed ? undefined : t("automations.invalidJson")}
                  onChange={(e) => setData(e.currentTarget.value)}
                  styles={{ input: { fontFamily: "monospace" } }}
                />
                <Button
                  size="xs"
                  disabled={!parsed}
                  loading={simulate.isPending}
                  onClick={() => {
                    setView("simulation");
                    simulate.mutate({ event: { type: current.trigger.event, data: parsed ?? {}, subject: "" } });
                  }}
                >
                  {t("automations.simulate")}
                </Button>
                {simulate.error && <ProblemAlert error={simulate.error} />}
                {simulate.data && (
                  <Alert color={simulate.data.completed ? "green" : "yellow"} role="status">
                    {simulate.data.path
                      .map((step) => `${step.id}: ${step.outcome.branch ?? (step.outcome.refused ? step.outcome.reason : "✓")}`)
                      .join(" → ") || t("automations.noSteps")}
                  </Alert>
                )}
              </Stack>
            </Card>
            <Card withBorder>
              <Title order={2} size="h5" mb="xs">
                {t("automations.runs")}
              </Title>
              {runs.data?.items.length === 0 && <Text c="dimmed">{t("automations.noRuns")}</Text>}
              <Table highlightOnHover>
                <Table.Tbody>
                  {(runs.data?.items ?? []).map((item) => (
                    <Table.Tr key={item.id}>
                      <Table.Td>
                        <Button
                          variant={runId === item.id && view === "run" ? "light" : "subtle"}
                          size="compact-xs"
                          onClick={() => {
                            setRunId(item.id);
                            setView("run");
                          }}
                        >
                          {formatDateTime(item.started_at, format)}
                        </Button>
                      </Table.Td>
                      <Table.Td>
                        <Badge size="sm" variant="light" color={item.status === "succeeded" ? "green" : item.status === "running" ? "blue" : "red"}>
                          {t(`automations.state.${item.status}`, { defaultValue: item.status })}
                        </Badge>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
              {view === "run" && run.data?.error?.message && (
                <Alert color="red" mt="xs">
                  {run.data.error.message}
                </Alert>
              )}
            </Card>
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}

export function Component() {
  const { id } = useParams();
  return id === "new" || !id ? <NewAutomation /> : <ExistingAutomation id={id} />;
}
