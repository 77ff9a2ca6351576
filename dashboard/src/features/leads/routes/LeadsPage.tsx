import { RecordListPage } from "@/features/records/components/RecordListPage";

export function Component() {
  return <RecordListPage kind="leads" />;
}
