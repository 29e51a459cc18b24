// How a visit's type, modality and status read on the pages.
export const VISIT_TYPES = { initial_evaluation: "Initial evaluation", follow_up: "Follow-up" };
export const MODALITIES = { telehealth: "Video", in_person: "In person" };
export const STATUSES = {
  booked: "Booked", waiting: "Waiting", in_progress: "In progress", finished: "Finished",
  cancelled: "Cancelled", noshow: "No-show",
};
