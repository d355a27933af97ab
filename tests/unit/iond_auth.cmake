# ferry-iond's authentication pieces that need no munged: the credential
# payload's parser, the refusals decided before munged is asked, and the
# auth settings in the configuration (flag, environment, file).
ferry_unit_test(test_iond_auth
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_iond_auth.c ${PROJECT_SOURCE_DIR}/ionode/auth.c
          ${PROJECT_SOURCE_DIR}/ionode/auth_seen.c ${PROJECT_SOURCE_DIR}/ionode/config.c
          ${PROJECT_SOURCE_DIR}/ionode/sock_policy.c
  LIBS ferry_proto PkgConfig::MUNGE PkgConfig::INIH LABELS "iond;auth" TIMEOUT 60)
target_include_directories(test_iond_auth PRIVATE ${PROJECT_SOURCE_DIR}/ionode)
