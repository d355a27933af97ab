# The delegation speedup model behind ferry-model (perf/model.c).
ferry_unit_test(test_model
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c
  LIBS ferry_model
  TIMEOUT 30)
