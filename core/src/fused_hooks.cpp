// FusedHooks (fused_hooks.h): the thread's active hooks.
#include "pesuite/core/fused_hooks.h"

namespace pesuite::core {
namespace {
thread_local const FusedHooks* active_hooks = nullptr;
}  // namespace

FusedHooks::Scope::Scope(const FusedHooks& hooks) : previous_(active_hooks) { active_hooks = &hooks; }
FusedHooks::Scope::~Scope() { active_hooks = previous_; }
const FusedHooks* FusedHooks::active() { return active_hooks; }

}  // namespace pesuite::core
