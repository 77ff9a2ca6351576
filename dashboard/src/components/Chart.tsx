import { useComputedColorScheme } from "@mantine/core";
import { BarChart, LineChart, PieChart } from "echarts/charts";
import {
  AriaComponent,
  DatasetComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import { SVGRenderer } from "echarts/renderers";
import ReactEChartsCore from "echarts-for-react/lib/core";
import type { EChartsOption } from "echarts";

// Only the chart types and components the pages use: the charts chunk stays a fraction of the
// full ECharts build. SVG renders crisp text and is read by screenshots and assistive tech.
echarts.use([
  BarChart,
  LineChart,
  PieChart,
  AriaComponent,
  DatasetComponent,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  SVGRenderer,
]);

/** An ECharts chart following the colour scheme; `label` names it for screen readers. */
export function Chart({ option, label, height = 260 }: { option: EChartsOption; label: string; height?: number }) {
  const scheme = useComputedColorScheme("light");
  return (
    <div role="img" aria-label={label}>
      <ReactEChartsCore
        echarts={echarts}
        option={{ backgroundColor: "transparent", aria: { enabled: true }, ...option }}
        theme={scheme === "dark" ? "dark" : undefined}
        style={{ height }}
        notMerge
        opts={{ renderer: "svg" }}
      />
    </div>
  );
}
