; PoT Miner: Inno Setup 6.3+ script for a per-user setup.exe (no administrator rights needed).
;
;   iscc /DAppVersion=0.1.0 /DBundleDir=..\..\dist\potminer /DOutputDir=..\..\dist packaging\windows\potminer.iss
;   (add /DVariant=cuda for the CUDA-torch installer; signing: iscc "/Ssigntool=signtool sign ... $f" /DSign=1)
;
; What it does
;   - installs the PyInstaller folder (potminer-gui.exe, potminer.exe, _internal\) into
;     %LOCALAPPDATA%\Programs\PoT Miner (per user: mining and the wallet are per user too);
;   - Start-menu entry for the window, optional desktop icon, optional "start at login": the same
;     HKCU\...\Run value "PoT Miner" that the app's own setting writes (app/daemon/autostart.py), so
;     either side can turn it off;
;   - the uninstaller removes the program and the Run value but KEEPS the wallet, chain and settings
;     in %LOCALAPPDATA%\potminer unless the user says so (a question that defaults to No), or the
;     uninstaller is run with /PURGEDATA (unins000.exe /VERYSILENT /PURGEDATA). A silent uninstall
;     never deletes them otherwise.
; Paths follow platformdirs (app/config.py): user_data_dir("potminer", appauthor=False) is
; %LOCALAPPDATA%\potminer, and config and logs live under it on Windows.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\potminer"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#define AppName "PoT Miner"
#define GuiExe "potminer-gui.exe"
#define CliExe "potminer.exe"
#define RunValue "PoT Miner"

[Setup]
; AppId identifies the installation across versions (upgrades replace, uninstall finds it). Never change it.
AppId={{6F1C2B8E-5A37-4D2A-9C61-7E0B3F4A9D15}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=PoT Miner developers
AppPublisherURL=https://potminer.invalid/
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install: {autopf} is %LOCALAPPDATA%\Programs and HKA is HKCU; no UAC prompt.
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#OutputDir}
#if Variant == "cuda"
OutputBaseFilename=PoT_Miner-cuda-{#AppVersion}-setup
#else
OutputBaseFilename=PoT_Miner-{#AppVersion}-setup
#endif
SetupIconFile=..\..\resources\icons\potminer.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
; torch's DLLs are large and compress well together; lzma2/max with a solid archive is the smallest.
Compression=lzma2/max
SolidCompression=yes
LZMAUseSeparateProcess=yes
; Required only above 4.2 GB compressed (a CUDA build can get close): slices sit next to setup.exe.
#ifdef DiskSpanning
DiskSpanning=yes
#endif
; Close a running window/daemon before replacing its files (Restart Manager), and say so.
CloseApplications=yes
RestartApplications=no
ChangesEnvironment=no
#ifdef Sign
SignTool=signtool
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[CustomMessages]
english.StartGroup=Starting:
english.StartAtLogin=Start PoT Miner when I sign in (it mines only when the computer is idle)
english.DeleteUserData=Also delete your PoT Miner wallet, chain data, settings and logs in%n%n%1%n%nThe wallet cannot be recovered without its seed phrase. Choose No to keep them for a later install.

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "startup"; Description: "{cm:StartAtLogin}"; GroupDescription: "{cm:StartGroup}"; Flags: unchecked

[Files]
; The whole PyInstaller folder. ignoreversion: the bundle is replaced as one, never merged by file version.
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade must not keep libraries that the new bundle no longer ships.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Registry]
; Same value the app's "start at login" setting writes; removed by the uninstaller whoever wrote it.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#RunValue}"; ValueData: """{app}\{#GuiExe}"" --hidden"; Flags: uninsdeletevalue; Tasks: startup

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Stop a running daemon first so that its files can be removed (it exits cleanly on `stop`; ignored when none runs).
Filename: "{app}\{#CliExe}"; Parameters: "stop"; Flags: runhidden waituntilterminated skipifdoesntexist; RunOnceId: "StopDaemon"

[UninstallDelete]
; Python byte-code caches and logs the bundle may write beside itself.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
const
  RunKey = 'Software\Microsoft\Windows\CurrentVersion\Run';

{ True when the uninstaller's command line has Name (e.g. /PURGEDATA), in any letter case.
  ParamCount/ParamStr work in Setup and Uninstall alike. }
function HasParam(const Name: String): Boolean;
var
  I: Integer;
begin
  Result := False;
  for I := 1 to ParamCount do
    if CompareText(ParamStr(I), Name) = 0 then
      Result := True;
end;

function UserDataDir(): String;
begin
  Result := ExpandConstant('{localappdata}\potminer');
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Purge: Boolean;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    { The app's own setting may have written the Run value without the installer task. }
    RegDeleteValue(HKEY_CURRENT_USER, RunKey, '{#RunValue}');
    if not DirExists(UserDataDir()) then
      Exit;
    Purge := HasParam('/PURGEDATA');
    if (not Purge) and (not UninstallSilent()) then
      Purge := MsgBox(FmtMessage(CustomMessage('DeleteUserData'), [UserDataDir()]),
                      mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
    if Purge then
      DelTree(UserDataDir(), True, True, True);
  end;
end;
