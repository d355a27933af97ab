# Per-call profiles (FERRY_PROFILE) and the delegation model's pipeline
# (perf/run_model.sh: ferry-synthetic, ferry-model), each against a real
# ferry-iond.  No timing is checked.
ferry_integration_test(profile
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/profile.sh TIMEOUT 90 LABELS e2e)
ferry_integration_test(model_pipeline
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/profile_model.sh TIMEOUT 120 LABELS "e2e;perf")
