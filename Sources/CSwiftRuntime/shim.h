// The Swift runtime's hook for enqueueing a job on the global executor (swift/Runtime/
// Concurrency.h). A statically linked runtime does not export it for dlsym, so `serve` reaches
// it by name at link time.
#include <stdbool.h>

extern void *_Nullable swift_task_enqueueGlobal_hook;

// Sets the hook unless something else set it first.
static inline bool ewsprobe_install_enqueue_hook(void *_Nonnull hook) {
    void *expected = 0;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, hook, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
