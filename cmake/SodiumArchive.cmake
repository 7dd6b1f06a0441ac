# libsodium's static archive, made fit to link beside other libraries (included by CMakeLists.txt
# at configure time).
#
# tessera links libsodium statically so that its Argon2 memory can come from a per-thread arena
# (src/crypto/argon2_arena.h). The shared library exports only libsodium's public API; the static
# archive also has its internals as global symbols, among them argon2_ctx, argon2_hash,
# argon2_verify..., the very names Debian's libargon2 (which tessera uses for Argon2d and v1.0
# hashes) exports. Linked as they are, those calls would reach libsodium's copy, which knows
# neither. So every global symbol the archive defines and the shared library does not export is
# renamed tessera_sodium_<name>, in definitions and references alike (objcopy --redefine-syms):
# the archive then offers the same names as the shared library, no more.
#
# In:  SODIUM_STATIC_LIBRARY (libsodium.a), SODIUM_SHARED_LIBRARY (libsodium.so).
# Out: TESSERA_SODIUM_ARCHIVE, the renamed copy in the build tree.
set(_out "${CMAKE_BINARY_DIR}/libsodium-tessera.a")
set(_renames "${CMAKE_BINARY_DIR}/libsodium-tessera.renames")
foreach(_tool CMAKE_NM CMAKE_OBJCOPY)
  if(NOT ${_tool})
    message(FATAL_ERROR "${_tool} is not set (binutils: nm and objcopy)")
  endif()
endforeach()
# Made again when either library (a Debian update) or this script changes, not on every
# configure; a change to any of them makes the build configure again.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  "${SODIUM_STATIC_LIBRARY}" "${SODIUM_SHARED_LIBRARY}" "${CMAKE_CURRENT_LIST_FILE}")
file(TIMESTAMP "${SODIUM_STATIC_LIBRARY}" _a_time "%s" UTC)
file(TIMESTAMP "${SODIUM_SHARED_LIBRARY}" _so_time "%s" UTC)
file(MD5 "${CMAKE_CURRENT_LIST_FILE}" _script_md5)
set(_stamp "${SODIUM_STATIC_LIBRARY}:${_a_time} ${SODIUM_SHARED_LIBRARY}:${_so_time} ${_script_md5}")
if(NOT EXISTS "${_out}" OR NOT "${_stamp}" STREQUAL "${TESSERA_SODIUM_ARCHIVE_STAMP}")
  execute_process(
    COMMAND "${CMAKE_NM}" -g --defined-only --format=posix "${SODIUM_STATIC_LIBRARY}"
    OUTPUT_VARIABLE _static ERROR_QUIET RESULT_VARIABLE _rc1)
  execute_process(
    COMMAND "${CMAKE_NM}" -D --defined-only --format=posix "${SODIUM_SHARED_LIBRARY}"
    OUTPUT_VARIABLE _shared RESULT_VARIABLE _rc2)
  if(NOT _rc1 EQUAL 0 OR NOT _rc2 EQUAL 0)
    message(FATAL_ERROR "nm could not read ${SODIUM_STATIC_LIBRARY} or ${SODIUM_SHARED_LIBRARY}")
  endif()
  # posix format: "name type [value size]", one per line; archive member headers end in ":".
  string(REGEX MATCHALL "(^|\n)[A-Za-z_][A-Za-z0-9_]* [TDBRVWGS]" _static_lines "${_static}")
  string(REGEX MATCHALL "(^|\n)[A-Za-z_][A-Za-z0-9_@.]* [TDBRVWGSi]" _shared_lines "${_shared}")
  set(_public "")
  foreach(_line IN LISTS _shared_lines)
    string(REGEX REPLACE "^\n?([A-Za-z_][A-Za-z0-9_]*).*" "\\1" _name "${_line}")
    list(APPEND _public "${_name}")
  endforeach()
  set(_map "")
  set(_count 0)
  set(_seen "")
  foreach(_line IN LISTS _static_lines)
    string(REGEX REPLACE "^\n?([A-Za-z_][A-Za-z0-9_]*).*" "\\1" _name "${_line}")
    if(NOT _name IN_LIST _public AND NOT _name IN_LIST _seen)
      list(APPEND _seen "${_name}")
      string(APPEND _map "${_name} tessera_sodium_${_name}\n")
      math(EXPR _count "${_count} + 1")
    endif()
  endforeach()
  if(_count EQUAL 0 OR NOT "argon2_ctx" IN_LIST _seen)
    message(FATAL_ERROR "no libsodium internals found to rename in ${SODIUM_STATIC_LIBRARY}")
  endif()
  file(WRITE "${_renames}" "${_map}")
  execute_process(
    COMMAND "${CMAKE_OBJCOPY}" "--redefine-syms=${_renames}" "${SODIUM_STATIC_LIBRARY}" "${_out}"
    RESULT_VARIABLE _rc3)
  if(NOT _rc3 EQUAL 0)
    message(FATAL_ERROR "objcopy could not rename libsodium's internal symbols")
  endif()
  set(TESSERA_SODIUM_ARCHIVE_STAMP "${_stamp}" CACHE INTERNAL "libsodium archive inputs")
  message(STATUS "libsodium: ${_count} internal symbols renamed in ${_out}")
endif()
set(TESSERA_SODIUM_ARCHIVE "${_out}")
