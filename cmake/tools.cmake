# spec_hygiene_tools(<out-var>): the toolkit's commands, that is every executable target defined
# in a folder tools/<tool>/. Completion, install layout and package tests loop over this list, so
# a new tool is picked up by adding its folder; nothing else names the tools.
function(spec_hygiene_tools out)
  get_property(folders DIRECTORY ${PROJECT_SOURCE_DIR}/tools PROPERTY SUBDIRECTORIES)
  set(tools)
  foreach(folder IN LISTS folders)
    get_property(targets DIRECTORY ${folder} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target IN LISTS targets)
      get_target_property(type ${target} TYPE)
      if(type STREQUAL "EXECUTABLE")
        list(APPEND tools ${target})
      endif()
    endforeach()
  endforeach()
  list(SORT tools)
  set(${out} ${tools} PARENT_SCOPE)
endfunction()
